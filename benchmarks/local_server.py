"""A `panel serve` of the dashboard on a free loopback port, in its own process group, and what a
headless Chromium needs to watch it: for the real-browser tests, the hardening tests and the start
and load benchmarks (`startbench.py`, `loadtest.py`), so that they all start, wait for and stop a
server, and recognise a drawn page, the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's `chromium`
# Headless and quiet: nothing that phones home, no GPU (CI has none).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

# True once the Explore plots are drawn with their data: a source holds the 1001-point trajectories
# and every figure has finished rendering.
PLOTS_DRAWN_JS = """() => !!window.Bokeh && Bokeh.documents.length > 0 &&
  [...Bokeh.documents[0].all_models].some(m => m.type === "ColumnDataSource" && m.data.x &&
    m.data.x.length > 0 && m.data.x[0].length === 1001) &&
  [...Bokeh.index.query((v) => v.model.type === "Figure")].every((v) => v.has_finished())"""

# True once at least n of the Generalisation tab's figures have finished rendering.
FIGURES_DRAWN_JS = """(n) => [...Bokeh.index.query((v) => v.model.type === "Figure" && v.has_finished() &&
  v.model.tags.includes("generalisation"))].length >= n"""

# A fingerprint of every data source on the page: changes whenever any plotted data changes.
DATA_FINGERPRINT_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents.length) return null;
  const parts = [];
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== "ColumnDataSource") continue;
    for (const [k, v] of Object.entries(m.data)) {
      // A column is numbers, or (a MultiLine's) one array per curve.
      const rows = (v.length && typeof v[0] === "object" && v[0] !== null && "length" in v[0]) ? [...v] : [v];
      let n = 0, s = 0;
      for (const row of rows) {
        n += row.length;
        for (let i = 0; i < Math.min(row.length, 400); i += 7) { const x = Number(row[i]); if (isFinite(x)) s += x; }
      }
      parts.push(k + ":" + n + ":" + s.toFixed(5));
    }
  }
  return parts.sort().join("|");
}"""


def timed_release(page, handle, key: str = "ArrowRight") -> float:
    """Press `key` on a slider's handle in a Playwright `page` (a release); returns the milliseconds
    until the plotted data changed and the browser painted it (two animation frames)."""
    before = page.evaluate(DATA_FINGERPRINT_JS)
    handle.focus()
    start = time.perf_counter()
    handle.press(key)
    page.wait_for_function(f"(before) => ({DATA_FINGERPRINT_JS})() !== before", arg=before, timeout=20_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return (time.perf_counter() - start) * 1e3


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(port: int, extra: Sequence[str] = (), panel: Sequence[str] | None = None) -> list[str]:
    """`panel serve dashboard/app.py` on 127.0.0.1:`port`, accepting only that origin, with `extra`
    arguments and `--liveness` (so that there is something to poll). `panel` is how to call Panel
    (default: this Python's `-m panel`)."""
    cmd = [*(panel or (sys.executable, "-m", "panel")), "serve", "dashboard/app.py", "--address", "127.0.0.1"]
    return [*cmd, "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}", *extra, "--liveness"]


def wait_for_liveness(
    proc: subprocess.Popen, port: int, timeout_s: float, poll_s: float = 0.1, log_path: Path | None = None
) -> float:
    """Poll the server's `/liveness` until it answers 200; returns `time.perf_counter()` then.

    Raises:
        RuntimeError: the server exited, or did not answer within `timeout_s` (with its log's tail).
    """
    deadline = time.perf_counter() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"panel serve exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2) as reply:
                if reply.status == 200:
                    return time.perf_counter()
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"panel serve did not answer within {timeout_s:.0f} s:\n{_tail(log_path)}")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen) -> None:
    """End the server's whole process group (its workers too): politely, then not."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def local_server(
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 180.0,
    poll_s: float = 0.1,
) -> Iterator[int]:
    """`serve_command(port, extra)` from the repository root, in a new process group, its output in
    `log_path`; yields the port once `/liveness` answers, and stops the group on exit."""
    port = free_port()
    with open(log_path or os.devnull, "w") as log:
        proc = subprocess.Popen(
            serve_command(port, extra),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_liveness(proc, port, timeout_s, poll_s, log_path)
            yield port
        finally:
            stop(proc)


def _tail(log_path: Path | None, chars: int = 3000) -> str:
    try:
        return log_path.read_text()[-chars:] if log_path else ""
    except OSError:
        return ""
