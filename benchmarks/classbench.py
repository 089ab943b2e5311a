"""The classroom command on a fresh cache: pages opened during its warm-up, then memory over rounds.

    python -m benchmarks.classbench                       # fresh cache, 5 rounds of 20 pages
    python -m benchmarks.classbench --every 20 --rounds 5 --pages 20 --json

Starts the classroom command (docs/classroom.md: `--num-threads 4 --num-procs 2 --setup
dashboard/server/warmup.py`, plus `--liveness`) in its own process group with an empty user cache
(`XDG_CACHE_HOME`: no JAX cache, no stored first page), and reports:

- `command_to_liveness`: the first page's part of the warm-up (the server answers after it);
- `burst`: `--burst` sessions (Bokeh's websocket protocol, `loadtest.Student`) opened over 5 s as
  soon as the server answers, during the warm-up: the median and slowest time to their first plot data;
- `pages`: every `--every` seconds while the rest of the warm-up runs, one page opened in headless
  Chromium, timed from its request to every Explore plot drawn with its data (`PLOTS_DRAWN_JS`),
  with the 1-minute load average at that moment;
- `warm_up_s`: from the command to the last server process printing that the rest is compiled;
- `warm_pages`: `--control` pages opened the same way after the warm-up (the machine's load alone);
- `rss_mb`: then `--rounds` rounds of `--pages` sessions opened (Bokeh's websocket protocol,
  `loadtest.Student`, each moving a slider for a second) and closed, and `--settle` seconds later
  the resident memory of each server process (`ps`), in MB.

Loopback only; the process group is killed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import loadtest
from benchmarks.local_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PLOTS_DRAWN_JS,
    free_port,
    serve_command,
    stop,
    wait_for_liveness,
)
from benchmarks.startbench import loadavg

ROOT = Path(__file__).resolve().parents[1]
CLASSROOM = ["--num-threads", "4", "--num-procs", "2", "--setup", "dashboard/server/warmup.py"]
REST_DONE = "dashboard warm-up: the rest ("


def server_rss_mb(pgid: int) -> dict[int, float]:
    """Resident memory (MB) of each `panel serve` process in process group `pgid` (not its workers)."""
    out = subprocess.run(["ps", "-o", "pid=,rss=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    rss = {}
    for line in out.splitlines():
        pid, kb, args = line.split(None, 2)
        if "panel" in args and "serve" in args:
            rss[int(pid)] = int(kb) / 1024
    return rss


def open_sessions(url: str, n: int) -> dict:
    """`n` websocket sessions opened over 5 s, each moving a slider for a second, then closed
    (`loadtest.main_async`, in a thread of its own: Playwright's sync API holds this thread's loop)."""
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(asyncio.run(loadtest.main_async(url, n, 1.0, 10.0, 5.0))))
    thread.start()
    thread.join()
    return done


def summary(stats: dict) -> dict:
    """A round of sessions: how many drew their plots, their median and slowest open, the errors."""
    opens = sorted(stats.get("open_s", []))
    return {
        "sessions": stats.get("sessions", 0),
        "open_s_median": round(opens[len(opens) // 2], 2) if opens else None,
        "open_s_max": round(opens[-1], 2) if opens else None,
        "errors": len(stats.get("errors", [])),
        "first_errors": stats.get("errors", [])[:3],
        "load": loadavg(),
    }


def time_page(browser, url: str, timeout_s: float) -> float:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_s * 1e3)
        page.wait_for_function(PLOTS_DRAWN_JS, timeout=timeout_s * 1e3, polling=100)
        return time.perf_counter() - start
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classbench", description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=20.0, help="seconds between pages during the warm-up")
    parser.add_argument("--burst", type=int, default=20, help="sessions opened at once as the server answers")
    parser.add_argument("--control", type=int, default=3, help="pages opened the same way once the warm-up is done")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pages", type=int, default=20, help="sessions per round")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after a round before reading RSS")
    parser.add_argument("--timeout", type=float, default=900.0, help="the warm-up's limit, seconds")
    parser.add_argument("--cache", type=Path, default=None, help="user cache folder (default: a fresh one)")
    parser.add_argument("--log", type=Path, default=None, help="keep the server's log here")
    parser.add_argument(
        "--setup",
        default="dashboard/server/warmup.py",
        help="the setup script (dashboard/server/serving.py: the README's, no warm-up; pages and memory only)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    cache = args.cache or Path(tempfile.mkdtemp(prefix="classbench-cache-"))
    log_path = args.log or cache / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "L63_JAX_CACHE"}
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    port = free_port()
    url = f"http://127.0.0.1:{port}/app"
    result: dict = {"load_at_start": loadavg(), "pages": [], "warm_pages": [], "rss_mb": []}
    with open(log_path, "w") as log, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        started = time.perf_counter()
        proc = subprocess.Popen(
            serve_command(port, [*CLASSROOM[:4], "--setup", args.setup]),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            result["command_to_liveness"] = wait_for_liveness(proc, port, args.timeout, 0.1, log_path) - started
            deadline = started + args.timeout
            if args.burst:  # a class opening the page at once, during the warm-up (websocket sessions)
                result["burst"] = summary(open_sessions(url, args.burst))
                result["burst"]["warm_up_done"] = log_path.read_text().count(REST_DONE) >= 2
                print(json.dumps({"burst": result["burst"]}), flush=True)
            warming = "dashboard/server/warmup.py" in args.setup
            while warming and log_path.read_text().count(REST_DONE) < 2 and time.perf_counter() < deadline:
                since = time.perf_counter() - started
                try:
                    seconds = time_page(browser, url, 120.0)
                except Exception as exc:  # noqa: BLE001 - a page that never drew is a result too
                    seconds = f"failed: {exc.__class__.__name__}"
                result["pages"].append({"at_s": round(since, 1), "to_plots_s": seconds, "load": loadavg()})
                print(json.dumps(result["pages"][-1]), flush=True)
                time.sleep(max(0.0, args.every - (time.perf_counter() - started - since)))
            result["warm_up_s"] = time.perf_counter() - started
            # The same pages on the warm server, at the same interval: what the machine's load alone gives.
            for _ in range(args.control):
                since = time.perf_counter()
                try:
                    seconds = time_page(browser, url, 120.0)
                except Exception as exc:  # noqa: BLE001
                    seconds = f"failed: {exc.__class__.__name__}"
                result["warm_pages"].append({"to_plots_s": seconds, "load": loadavg()})
                print(json.dumps({"warm page": result["warm_pages"][-1]}), flush=True)
                time.sleep(max(0.0, args.every - (time.perf_counter() - since)))
            result["rss_mb"].append({"after_warm_up": server_rss_mb(proc.pid)})
            for round_ in range(args.rounds):
                entry = {"round": round_ + 1, **summary(open_sessions(url, args.pages))}
                time.sleep(args.settle)
                entry["rss"] = server_rss_mb(proc.pid)
                result["rss_mb"].append(entry)
                print(json.dumps(entry), flush=True)
        finally:
            stop(proc)
            browser.close()
    result["load_at_end"] = loadavg()
    print(json.dumps(result, indent=None if args.json else 1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
