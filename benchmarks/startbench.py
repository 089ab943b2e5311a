"""How long a class waits for the first page: start the server, open the page in headless Chromium.

    python -m benchmarks.startbench               # restart: the JAX compilation cache filled
    python -m benchmarks.startbench --fresh       # a fresh machine: an empty user cache
    python -m benchmarks.startbench --repo /work/main --runs 5 --json

Each run starts the README's command (`panel serve dashboard/app.py --address 127.0.0.1 --port P
--allow-websocket-origin 127.0.0.1:P`, plus `--liveness` so that there is something to poll) from
`--repo`, in a new process group, with its own user cache (`XDG_CACHE_HOME`: the JAX compilation
cache and trained models live there). It polls `/liveness` every 20 ms, opens the page in a headless
Chromium started beforehand, and reports, in seconds:

- `command_to_liveness`: from starting the command to the server answering `/liveness`;
- `liveness_to_paint`: from `/liveness` to the browser's first contentful paint (the page is no
  longer blank: the template's header is drawn);
- `liveness_to_content`: to the page's own content drawn (Bokeh's first views: the sidebar, the
  tabs, a progress note if the solvers are not ready);
- `liveness_to_plots`: to every Explore plot drawn with its data (the tests' signal, in
  tests/browser/test_dashboard_browser.py: a source with the 1001-point trajectories and every
  figure finished rendering);
- `command_to_plots`: the teacher's whole wait, from typing the command to the plots.

`--fresh` gives each run an empty cache; otherwise one unmeasured start fills a cache that every
measured run then reuses (a restart). The process group is killed after each run. Medians and every
run are printed (`--json` for scripts). `--extra "--setup dashboard/server/warmup.py"` adds arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.local_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PLOTS_DRAWN_JS,
    free_port,
    serve_command,
    stop,
    wait_for_liveness,
)

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.02
PHASES = ("command_to_liveness", "liveness_to_paint", "liveness_to_content", "liveness_to_plots", "command_to_plots")

# The page's own content is on screen: Bokeh has rendered views that take up space.
CONTENT_JS = """() => !!window.Bokeh && Bokeh.documents.length > 0 &&
  [...Bokeh.index.query((v) => true)].some((v) => v.el && v.el.getBoundingClientRect().height > 0)"""
# Epoch milliseconds of the first contentful paint, or null before it.
PAINT_JS = """() => { const e = performance.getEntriesByName("first-contentful-paint")[0];
  return e ? performance.timeOrigin + e.startTime : null; }"""


def running_pythons_panel() -> list[str]:
    """The `panel` command installed beside the running Python (what the README's `panel` is after
    `pip install -e .`), never another one found first on PATH; `python -m panel` if it has none."""
    beside = Path(sys.executable).parent / ("panel.exe" if os.name == "nt" else "panel")
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "panel"]


def readme_command(port: int, extra: list[str]) -> list[str]:
    """The README's first command (README.md, "Set up on a fresh machine"), on `port`, with `--liveness`,
    run by this Python's Panel."""
    return serve_command(port, extra, panel=running_pythons_panel())


def one_start(browser, repo: Path, cache: Path, extra: list[str], timeout_s: float, log_path: Path | None) -> dict:
    """Start the server, open the page once, return the phases in seconds (and the server's log tail)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "L63_JAX_CACHE"}
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), os.environ.get("PYTHONPATH", "")) if p)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    proc = subprocess.Popen(
        readme_command(port, extra), cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        live = wait_for_liveness(proc, port, timeout_s, POLL_S, log_path)
        live_epoch = time.time()
        page.goto(f"http://127.0.0.1:{port}/app", wait_until="commit", timeout=timeout_s * 1e3)
        page.wait_for_function(CONTENT_JS, timeout=timeout_s * 1e3, polling="raf")
        content = time.perf_counter()
        try:  # the first document's paint (a light page reloads itself once the server is warm)
            paint_epoch_ms = page.evaluate(PAINT_JS)
        except Exception:  # noqa: BLE001 - it reloaded just now: no figure for this run
            paint_epoch_ms = None
        page.wait_for_function(PLOTS_DRAWN_JS, timeout=timeout_s * 1e3, polling="raf")
        plots = time.perf_counter()
        paint = (paint_epoch_ms / 1e3 - live_epoch) if paint_epoch_ms else float("nan")
    finally:
        context.close()
        stop(proc)
        if log_path:
            log.close()
    return {
        "command_to_liveness": live - started,
        "liveness_to_paint": paint,
        "liveness_to_content": content - live,
        "liveness_to_plots": plots - live,
        "command_to_plots": plots - started,
    }


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startbench", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="an empty user cache for every run (no JAX cache)")
    parser.add_argument("--runs", type=int, default=3, help="measured starts (default 3)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    parser.add_argument(
        "--extra", default="", help="more panel serve arguments, e.g. '--setup dashboard/server/warmup.py'"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for each phase")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep each run's server log here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    repo = args.repo.resolve()
    if not (repo / "dashboard" / "app.py").exists():
        parser.error(f"--repo {args.repo}: no dashboard/app.py there")
    if not Path(CHROMIUM).exists():
        parser.error(f"no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    extra = shlex.split(args.extra)
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    runs = []
    with tempfile.TemporaryDirectory(prefix="startbench-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        shared = Path(tmp) / "cache"
        if not args.fresh:  # one unmeasured start fills the cache that every run reuses
            one_start(browser, repo, shared, extra, args.timeout, None)
        for i in range(args.runs):
            cache = Path(tmp) / f"fresh-{i}" if args.fresh else shared
            log_path = args.log_dir / f"run-{i}.log" if args.log_dir else None
            load = loadavg()
            result = one_start(browser, repo, cache, extra, args.timeout, log_path)
            result["load_before"] = load
            runs.append(result)
            if not args.json:
                print(f"run {i + 1}: " + ", ".join(f"{k} {result[k]:.2f}" for k in PHASES) + f" (load {load:.2f})")
        browser.close()
    medians = {k: statistics.median(r[k] for r in runs) for k in PHASES}
    summary = {
        "repo": str(repo),
        "mode": "fresh" if args.fresh else "restart",
        "command": " ".join(readme_command(5006, extra)),
        "runs": runs,
        "median": medians,
        "load_after": loadavg(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['mode']}, {repo}: median " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
