"""A fresh machine (empty user cache), dashboard/server/serving.py: a plain `panel serve dashboard/app.py`
answers at once with a light page that shows the warm-up's progress and becomes the full page by
itself; with the README's `--setup dashboard/server/serving.py` the first page is the full one."""

from __future__ import annotations

import os

import pytest

from benchmarks.local_server import PLOTS_DRAWN_JS as READY_JS
from benchmarks.local_server import ROOT, local_server

# Two servers started from nothing (every program compiled cold): ~1.5 minutes on 2 cores, so they
# sit outside the README's test command and CI runs them as a step of their own (.ci/run).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.ci]

LIGHT_NOTE = "Preparing the solvers"


@pytest.fixture
def fresh_server(tmp_path, request):
    """`panel serve dashboard/app.py` (plus `request.param`'s arguments) with an empty user cache:
    nothing compiled, nothing stored."""
    env = {k: v for k, v in os.environ.items() if k != "L63_JAX_CACHE"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    log_path = tmp_path / "serve.log"
    with local_server(getattr(request, "param", []), env=env, log_path=log_path, poll_s=0.1) as port:
        yield f"http://127.0.0.1:{port}/app", log_path


def test_a_fresh_server_shows_progress_at_once_then_the_plots(page, fresh_server, screenshots):
    url, log_path = fresh_server
    page.goto(url)
    # On an empty cache the solvers compile for seconds: the light page with its progress shows first.
    page.get_by_text(LIGHT_NOTE).wait_for(state="visible", timeout=30_000)
    assert page.locator(".bk-progress, progress").count() >= 1
    page.screenshot(path=str(screenshots / "start-light-page.png"))
    # Then the page turns into the full one by itself: the plots drawn with their data, the tabs there.
    page.wait_for_function(READY_JS, timeout=120_000)
    assert page.get_by_text("Explore", exact=True).first.is_visible()
    assert not any(note.is_visible() for note in page.get_by_text(LIGHT_NOTE).all())
    assert "Traceback" not in log_path.read_text()


@pytest.mark.parametrize("fresh_server", [["--setup", "dashboard/server/serving.py"]], indirect=True)
def test_with_the_readme_setup_the_first_page_is_the_full_one(page, fresh_server):
    url, log_path = fresh_server
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=120_000)
    assert navigations == [url]  # no light page that reloaded itself
    assert not any(note.is_visible() for note in page.get_by_text(LIGHT_NOTE).all())
    assert "Traceback" not in log_path.read_text()
