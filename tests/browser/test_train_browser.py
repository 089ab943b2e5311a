"""The Train tab in a real browser: the owner cookie survives a reload, a crafted name is refused with
its rule, no server path shows on the page; (slow) a default training ends with its verdict, and the
model is listed again in the same browser after a reload, not in another browser."""

from __future__ import annotations

import re

import pytest

from benchmarks.local_server import PLOTS_DRAWN_JS as READY_JS

pytestmark = pytest.mark.browser

MODEL_SELECT = 'm => String(m.type).endsWith("Select") && String(m.title).startsWith("Trained FourDVarNet")'
OPTIONS_JS = f"""() => {{
  const m = [...Bokeh.documents[0].all_models].find({MODEL_SELECT});
  return m.options.map(o => Array.isArray(o) ? o[1] : o);
}}"""


def _open_train_tab(page, url):
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=60_000)
    page.locator(".bk-tab", has_text="Train").first.click()
    page.get_by_role("button", name="Train on the current settings").wait_for(timeout=45_000)


def _owner_cookie(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "l63_owner"), None)


# Every text on the page, shadow roots included (Panel renders into them), and every string a Bokeh
# model holds for display (texts, titles, labels, values, a select's options).
PAGE_TEXT_JS = """() => {
  const parts = [];
  const walk = (root) => {
    parts.push(root.textContent || "");
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document.body);
  for (const m of Bokeh.documents[0].all_models) {
    for (const key of ["text", "title", "label", "value", "placeholder", "name"]) {
      if (typeof m[key] === "string") parts.push(m[key]);
    }
    if (Array.isArray(m.options)) parts.push(JSON.stringify(m.options));
  }
  return parts.join("\\n");
}"""


def _page_text(page) -> str:
    return page.evaluate(PAGE_TEXT_JS)


def _no_path_on(page, model_cache):
    text = _page_text(page)
    assert "Train on the current settings" in text and "Trained FourDVarNet" in text  # it reads the page
    for path in (str(model_cache), "/root/", "/home/", "/tmp/", "/work/", ".cache"):
        assert path not in text, path


def test_the_owner_cookie_survives_a_reload_and_a_crafted_name_is_refused(page, dashboard_server, model_cache):
    _open_train_tab(page, dashboard_server["url"])
    page.wait_for_function("() => document.cookie.includes('l63_owner=')", timeout=30_000)
    owner = _owner_cookie(page.context)
    assert owner and re.fullmatch(r"[0-9a-f]{32}", owner)
    _no_path_on(page, model_cache)
    name = page.get_by_label("Model name")
    name.fill("../../etc/passwd")
    name.press("Enter")
    page.get_by_role("button", name="Train on the current settings").click()
    page.get_by_text("Model name must be 1 to 40 characters").wait_for(timeout=30_000)
    _no_path_on(page, model_cache)
    page.reload()
    _open_train_tab(page, dashboard_server["url"])
    assert _owner_cookie(page.context) == owner


@pytest.mark.slow
def test_a_default_training_shows_its_verdict_and_stays_in_this_browser(
    page, browser, dashboard_server, model_cache, screenshots
):
    _open_train_tab(page, dashboard_server["url"])
    before = set(page.evaluate(OPTIONS_JS))
    page.get_by_label("Model name").fill("browser fan")
    page.get_by_label("Model name").press("Enter")
    page.get_by_role("button", name="Train on the current settings").click()
    page.get_by_text("Verdict:").wait_for(timeout=300_000)
    page.screenshot(path=str(screenshots / "train_verdict.png"), full_page=True)
    text = _page_text(page)
    assert "held-out problems" in text and "browser fan" in text
    _no_path_on(page, model_cache)
    added = set(page.evaluate(OPTIONS_JS)) - before
    assert len(added) == 1
    page.reload()
    page.wait_for_function(READY_JS, timeout=60_000)
    assert added <= set(page.evaluate(OPTIONS_JS))  # the same browser lists it again
    other = browser.new_context()  # another student's browser does not
    try:
        stranger = other.new_page()
        stranger.goto(dashboard_server["url"])
        stranger.wait_for_function(READY_JS, timeout=60_000)
        assert not added & set(stranger.evaluate(OPTIONS_JS))
    finally:
        other.close()
