"""Real-browser fixtures: Debian's chromium through pytest-playwright, and a `panel serve` of the
dashboard on a free loopback port, in its own process group, killed at the end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.local_server import CHROMIUM, CHROMIUM_ARGS, local_server

ROOT = Path(__file__).resolve().parents[2]
ASSET_SCREENSHOTS = ROOT / "assets" / "screenshots"  # the README's pictures (tracked)
UPDATE_SCREENSHOTS_ENV = "L63_UPDATE_SCREENSHOTS"
TEACHER_TOKEN = "test-teacher-token"  # the test server runs in teacher mode (dashboard/server/teacher.py)
SERVER_START_TIMEOUT_S = 180  # the first page's warm-up: ~15 s on a cold cache, more on 2 busy cores


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, headless, with nothing that phones home."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": list(CHROMIUM_ARGS),
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}, "accept_downloads": True}


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the tests save their screenshots: a temporary folder, so that a test run never
    rewrites tracked files; `L63_UPDATE_SCREENSHOTS=1` refreshes the README's `assets/screenshots/`."""
    if os.environ.get(UPDATE_SCREENSHOTS_ENV) == "1":
        folder = ASSET_SCREENSHOTS
    else:
        folder = tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """An empty user cache, so the server sees only the shipped models and whatever we train."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="session")
def dashboard_server(model_cache):
    """`panel serve dashboard/app.py --setup dashboard/server/warmup.py` on 127.0.0.1; yields its URL."""
    from dashboard.data.jitcache import cache_dir

    env = {
        **os.environ,
        # Compiled programs are kept in the user's JAX cache (the dashboard's own, `jitcache.py`):
        # a second test run loads them; trained models go to the empty cache of this session.
        "L63_JAX_CACHE": os.environ.get("L63_JAX_CACHE") or str(cache_dir() or "off"),
        "XDG_CACHE_HOME": str(model_cache),
        "L63_TEACHER_TOKEN": TEACHER_TOKEN,
        # No background warm-up: these tests check pages, and on 2 cores its ~2 minutes of compiles
        # would slow every test beside them. Pages compile what they reach on demand, as a student's
        # would during a warm-up. tests/test_pagefirst.py checks the warm-up's list and its yielding;
        # each of its units is a call that a page makes, and these tests make.
        "L63_WARM_UP": "first-page",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log_path = model_cache / "panel-serve.log"
    started = time.perf_counter()
    extra = ["--num-threads", "2", "--setup", "dashboard/server/warmup.py"]
    with local_server(extra, env=env, log_path=log_path, timeout_s=SERVER_START_TIMEOUT_S, poll_s=0.5) as port:
        yield {
            "url": f"http://127.0.0.1:{port}/app",
            "log": log_path,
            "startup_s": time.perf_counter() - started,
            "teacher_token": TEACHER_TOKEN,
            "cache": model_cache,
        }
