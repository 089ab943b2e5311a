"""A cold start that feels warm: the first page's result kept across starts (dashboard/server/warmup.py)
and handed to `solve` (dashboard/data/compute.py) only for the same settings, files and code."""

from __future__ import annotations

import pytest

from dashboard.data import compute
from dashboard.server import warmup
from dashboard.training.models import registry


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """This test's own JAX cache folder (the stored result lives beside it)."""
    monkeypatch.setenv("L63_JAX_CACHE", str(tmp_path / "jax"))
    registry.refresh()
    return tmp_path


def test_a_prepared_result_is_what_solve_returns_for_exactly_those_settings():
    settings = compute.Settings(seed=4241)  # a problem no other test solves
    compute.prepare(settings, "the earlier process's result")
    assert compute.solve(settings) == "the earlier process's result"
    other = compute.Settings(seed=4241, obs_every=6)
    assert compute.solve_arguments(other) != compute.solve_arguments(settings)
    assert compute.solve_arguments(other) not in compute._prepared


def test_the_stored_first_result_is_used_only_by_the_same_code_and_files(own_cache, monkeypatch):
    handed = {}
    monkeypatch.setattr(warmup, "prepare", lambda settings, experiment: handed.update({settings: experiment}))
    assert not warmup.load_first_result()  # nothing stored yet
    warmup.store_first_result("stored result")
    assert (own_cache / warmup.FIRST_RESULT_FILE).is_file()
    assert warmup.load_first_result()
    assert handed == {compute.Settings(): "stored result"}
    # The key follows the model file: a retrained default model (a new version) is not served stale.
    key = warmup.first_result_key()
    default = compute.solve_arguments(compute.Settings())[7]
    monkeypatch.setattr(registry, "version_of", lambda k: registry.entries()[k].version + (1.0 if k == default else 0))
    assert warmup.first_result_key() != key
    handed.clear()
    assert not warmup.load_first_result() and handed == {}


def test_a_broken_stored_result_means_solving_again(own_cache):
    (own_cache / warmup.FIRST_RESULT_FILE).write_bytes(b"not a pickle")
    assert not warmup.load_first_result()


def test_session_reuse_is_turned_on_for_the_process_from_inside_the_first_page():
    """Panel keeps a setting made inside a session for that session alone: reuse (one page's HTML for
    every student, dashboard/server/serving.py) must be on for the process, or each page is built twice."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboard.server import serving

    was_ready, was_reusing = serving.PAGE_READY.is_set(), pn.config.reuse_sessions
    serving.PAGE_READY.set()
    try:
        pn.config.reuse_sessions = False
        with set_curdoc(Document()):
            serving.configure_server()
        assert pn.state.curdoc is None and pn.config.reuse_sessions is True
        with set_curdoc(Document()):  # another student's session sees it too
            assert pn.config.reuse_sessions is True
    finally:
        pn.config.reuse_sessions = was_reusing
        if not was_ready:
            serving.PAGE_READY.clear()


def test_startbench_serves_with_the_running_pythons_panel(tmp_path, monkeypatch):
    """`python -m benchmarks.startbench` measures this Python's Panel, never a `panel` found first on PATH
    (another Python's, a pyenv shim)."""
    import os
    import sys
    from pathlib import Path

    from benchmarks import startbench

    other = tmp_path / "panel"
    other.write_text("#!/bin/sh\nexit 1\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path), os.environ.get("PATH", "")]))
    command = startbench.readme_command(5006, [])
    assert str(other) not in command
    beside = Path(sys.executable).parent / "panel"
    assert command[:1] == [str(beside)] or command[:3] == [sys.executable, "-m", "panel"]
    assert command[command.index("serve") + 1] == "dashboard/app.py"
