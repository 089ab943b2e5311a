"""A bounded load test of a running dashboard: N concurrent sessions moving sliders.

    python -m benchmarks.loadtest --url http://127.0.0.1:5006/app --sessions 30 --duration 40

Loopback only (the URL must be 127.0.0.1 / localhost) and it stops by itself after `--duration`
seconds. Each virtual student speaks Bokeh's websocket protocol, as a browser does: it opens the
page (which creates a session), pulls the document, then repeatedly releases a slider (observation
density, noise, seed or K; a random new value) and times how long the server takes to send back the
redrawn view (the patch with the new plot data or metrics table), then "thinks" 0.5-1.5 s.
Reported: the page-open time of every student, from its GET to the first plot data received (in
the pulled document, or in the patch that follows it when the server solves after sending the
page), its p50 / p95 / max; p50 / p95 / max redraw time, the number of moves, and every session
error (a failed connection, a closed socket, a move with no reply within `--timeout` seconds).

A burst of a class opening the page (30 students within 5 s, then 20 s of moves):

    python -m benchmarks.loadtest --sessions 30 --ramp 5 --duration 20

Redraw in a real browser (headless Chromium through Playwright, as tests/browser does): the time
from a slider's release (a key press on its handle) to the new plot data drawn, over N moves of the
seed, density and noise sliders; with `--compare-url`, the moves alternate between two servers in
the same browser (e.g. two branches), so both see the same machine:

    python -m benchmarks.loadtest --browser-redraw 30 --url http://127.0.0.1:5006/app \
        --compare-url http://127.0.0.1:5007/app
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from urllib.parse import urlparse

from bokeh.protocol import Protocol
from bokeh.protocol.receiver import Receiver
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from benchmarks.local_server import CHROMIUM, CHROMIUM_ARGS, PLOTS_DRAWN_JS, timed_release
from dashboard.state.explore import L96_ONLY, ExperimentState
from dashboard.state.settings import slider_specs

# The sidebar's numeric sliders as the state declares them: title (the parameter's label) -> its spec.
# Lorenz-63's sliders (the page opens on it; a Lorenz-96 slider moved there solves and redraws nothing).
SLIDERS = {spec.label: spec for spec in slider_specs(ExperimentState).values() if spec.name not in L96_ONLY}


def _find_sliders(node, found):
    """Walk the pulled document's JSON for the sidebar sliders; title -> (id, value)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == "Slider":
            title = str(node.get("attributes", {}).get("title", ""))
            if title in SLIDERS:
                found[title] = (node["id"], node.get("attributes", {}).get("value"))
        for value in node.values():
            _find_sliders(value, found)
    elif isinstance(node, list):
        for value in node:
            _find_sliders(value, found)


def _has_data_patch(message) -> bool:
    """The reply that carries the redraw: new plot data, or the metrics table that the server
    rewrites in the same `pn.io.hold()` block as the plot data (with a raw websocket client the
    table patch is the one that reliably comes back; a browser receives both together)."""
    if message.msgtype != "PATCH-DOC":
        return False
    for event in message.content.get("events", []):
        if event.get("kind") != "ModelChanged":
            continue
        if event.get("attr") == "data":
            return True
        if event.get("attr") == "text" and "metrics" in str(event.get("new", "")):
            return True
    return False


def _has_plot_data(node) -> bool:
    """Whether a pulled document (its JSON) holds drawn curves: a ColumnDataSource with a
    non-empty `color` column (one entry per curve, `plots.ExploreFigures.curves`)."""
    if isinstance(node, dict):
        if node.get("name") == "ColumnDataSource":
            data = node.get("attributes", {}).get("data", {})
            for key, value in data.get("entries", []) if isinstance(data, dict) else []:
                if key == "color" and isinstance(value, list) and value:
                    return True
        return any(_has_plot_data(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_plot_data(value) for value in node)
    return False


class Student:
    def __init__(self, index, url, ws_url, duration, hard_deadline, timeout, stats):
        self.index, self.url, self.ws_url = index, url, ws_url
        self.duration, self.hard_deadline = duration, hard_deadline
        self.timeout, self.stats = timeout, stats
        self.protocol = Protocol()
        self.receiver = Receiver(self.protocol)
        self.queue: asyncio.Queue = asyncio.Queue()

    async def _send(self, ws, msgtype, content):
        header = json.dumps({"msgid": uuid.uuid4().hex, "msgtype": msgtype})
        await ws.write_message(header)
        await ws.write_message("{}")
        await ws.write_message(json.dumps(content))

    async def _reader(self, ws):
        while True:
            fragment = await ws.read_message()
            if fragment is None:
                await self.queue.put(None)
                return
            message = await self.receiver.consume(fragment)
            if message is not None:
                await self.queue.put(message)

    async def _next(self, predicate, timeout):
        end = time.perf_counter() + timeout
        while True:
            left = end - time.perf_counter()
            if left <= 0:
                raise TimeoutError("no reply")
            message = await asyncio.wait_for(self.queue.get(), left)
            if message is None:
                raise ConnectionError("the server closed the websocket")
            if predicate(message):
                return message

    async def run(self):
        opened = time.perf_counter()
        try:
            response = await AsyncHTTPClient().fetch(HTTPRequest(self.url, request_timeout=60))
            token = re.search(r'"token":\s*"([^"]+)"', response.body.decode()).group(1)
            ws = await websocket_connect(
                HTTPRequest(self.ws_url, request_timeout=60), subprotocols=["bokeh", token], max_message_size=64 << 20
            )
        except Exception as exc:  # noqa: BLE001
            self.stats["errors"].append(f"session {self.index}: could not connect ({exc!r})")
            return
        reader = asyncio.create_task(self._reader(ws))
        try:
            await self._next(lambda m: m.msgtype == "ACK", 30)
            await self._send(ws, "PULL-DOC-REQ", {})
            doc = await self._next(lambda m: m.msgtype == "PULL-DOC-REPLY", 60)
            sliders = {}
            _find_sliders(doc.content, sliders)
            if len(sliders) < len(SLIDERS):
                raise RuntimeError(f"sliders not found in the page: {sorted(sliders)}")
            # A browser tells the server when it has rendered the page; until then Panel holds
            # back some updates (and runs `onload` callbacks after it).
            ready = {
                "kind": "MessageSent",
                "msg_type": "bokeh_event",
                "msg_data": {"type": "event", "name": "document_ready", "values": {"type": "map"}},
            }
            await self._send(ws, "PATCH-DOC", {"events": [ready]})
            if not _has_plot_data(doc.content):  # a fresh server sends the page first, the plots after
                await self._next(_has_data_patch, 120)
            self.stats["sessions"] += 1
            self.stats["open_s"].append(time.perf_counter() - opened)
            # Each student moves sliders for `duration` seconds once its page is up (bounded).
            deadline = min(time.perf_counter() + self.duration, self.hard_deadline)
            while time.perf_counter() < deadline:
                title = random.choice(list(SLIDERS))
                spec = SLIDERS[title]
                model_id, current = sliders[title]
                value = current
                while value == current:  # the same value would change nothing
                    value = (
                        random.randint(spec.low, spec.high)
                        if spec.integer
                        else round(round(random.uniform(spec.low, spec.high) / spec.step) * spec.step, 10)
                    )
                sliders[title] = (model_id, value)
                start = time.perf_counter()
                for attr in ("value", "value_throttled"):  # two messages, as a browser sends them
                    event = {"kind": "ModelChanged", "model": {"id": model_id}, "attr": attr, "new": value}
                    await self._send(ws, "PATCH-DOC", {"events": [event]})
                try:
                    await self._next(_has_data_patch, self.timeout)
                    self.stats["latencies"].append((time.perf_counter() - start) * 1e3)
                except TimeoutError:
                    # The same value as before gives no new data: only count real misses.
                    self.stats["no_reply"] += 1
                await asyncio.sleep(random.uniform(0.5, 1.5))
        except Exception as exc:  # noqa: BLE001
            self.stats["errors"].append(f"session {self.index}: {exc!r}")
        finally:
            reader.cancel()
            ws.close()


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in process group `pgid` (Linux /proc):
    with `panel serve` started in its own group, all its worker processes (`--num-procs`)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def main_async(url, sessions, duration, timeout, ramp):
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadtest: loopback only (use --url http://127.0.0.1:PORT/app)")
    ws_url = url.replace("http://", "ws://", 1).rstrip("/") + "/ws"
    AsyncHTTPClient.configure(None, max_clients=sessions + 5)
    stats = {"latencies": [], "errors": [], "sessions": 0, "no_reply": 0, "open_s": []}
    hard_deadline = time.perf_counter() + ramp + duration + 90  # stops by itself, whatever happens
    tasks = []
    for i in range(sessions):
        student = Student(i, url, ws_url, duration, hard_deadline, timeout, stats)
        tasks.append(asyncio.create_task(student.run()))
        await asyncio.sleep(ramp / max(sessions, 1))
    await asyncio.wait_for(asyncio.gather(*tasks), ramp + duration + timeout + 120)
    return stats


BROWSER_SLIDERS = tuple(ExperimentState.param[name].label for name in ("seed", "obs_every", "obs_noise"))


def browser_redraws(urls, moves: int, chromium: str = CHROMIUM) -> dict:
    """Slider release -> redrawn plots in headless Chromium, `moves` times per URL; ms per URL."""
    from playwright.sync_api import sync_playwright  # (a test dependency: only this mode needs it)

    times = {url: [] for url in urls}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=list(CHROMIUM_ARGS))
        pages = {}
        for url in urls:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url)
            page.wait_for_function(PLOTS_DRAWN_JS, timeout=60_000)
            pages[url] = page
        for i in range(moves):
            for url, page in pages.items():
                title = BROWSER_SLIDERS[i % len(BROWSER_SLIDERS)]
                box = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text=title))
                handle = box.locator(".noUi-handle").first
                key = "ArrowRight" if (i // len(BROWSER_SLIDERS)) % 2 == 0 else "ArrowLeft"
                times[url].append(timed_release(page, handle, key))
                time.sleep(0.3)
        browser.close()
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5006/app")
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of slider moves")
    parser.add_argument("--timeout", type=float, default=10.0, help="a move with no reply by then fails")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which sessions open")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--server-pgid",
        type=int,
        default=None,
        help="the server's process group (e.g. `setsid panel serve ...`): report its CPU seconds per session",
    )
    parser.add_argument(
        "--browser-redraw",
        type=int,
        default=0,
        metavar="N",
        help="instead: time N slider moves in headless Chromium (release -> redrawn), median and p90",
    )
    parser.add_argument("--compare-url", default=None, help="with --browser-redraw: alternate with this server")
    args = parser.parse_args(argv)
    if args.browser_redraw:
        urls = [args.url] + ([args.compare_url] if args.compare_url else [])
        for url in urls:
            if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
                raise SystemExit("loadtest: loopback only (use --url http://127.0.0.1:PORT/app)")
        for url, ms in browser_redraws(urls, args.browser_redraw).items():
            print(
                f"{url}: {len(ms)} moves, slider release -> redrawn: median {statistics.median(ms):.0f} ms, "
                f"p90 {percentile(ms, 90):.0f} ms, max {max(ms):.0f} ms (load {os.getloadavg()[0]:.2f})"
            )
        return 0
    started, client_cpu_before = time.perf_counter(), time.process_time()
    cpu_before = group_cpu_s(args.server_pgid) if args.server_pgid else None
    stats = asyncio.run(main_async(args.url, args.sessions, args.duration, args.timeout, args.ramp))
    cpu_used = group_cpu_s(args.server_pgid) - cpu_before if args.server_pgid else None
    lat = stats["latencies"]
    result = {
        "sessions_requested": args.sessions,
        "sessions_opened": stats["sessions"],
        "moves": len(lat),
        "moves_without_reply": stats["no_reply"],
        "page_open_s_p50": round(percentile(stats["open_s"], 50), 2),
        "page_open_s_p95": round(percentile(stats["open_s"], 95), 2),
        "page_open_s_max": round(max(stats["open_s"]), 2) if stats["open_s"] else None,
        "redraw_ms_p50": round(percentile(lat, 50), 1),
        "redraw_ms_p95": round(percentile(lat, 95), 1),
        "redraw_ms_max": round(max(lat), 1) if lat else None,
        "redraw_ms_mean": round(statistics.fmean(lat), 1) if lat else None,
        "session_errors": stats["errors"],
        "wall_s": round(time.perf_counter() - started, 1),
        "server_cpu_s_per_session": round(cpu_used / args.sessions, 3) if cpu_used is not None else None,
        "server_cpu_s": round(cpu_used, 1) if cpu_used is not None else None,
        # This client shares the machine with the server: its own CPU is time the server did not get.
        "client_cpu_s": round(time.process_time() - client_cpu_before, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['sessions_opened']}/{args.sessions} sessions, {result['moves']} slider moves "
            f"in {result['wall_s']} s"
        )
        print(
            f"redraw time (slider release -> new plot data sent): p50 {result['redraw_ms_p50']} ms, "
            f"p95 {result['redraw_ms_p95']} ms, max {result['redraw_ms_max']} ms"
        )
        print(
            f"page open (GET -> first plot data received): p50 {result['page_open_s_p50']} s, "
            f"p95 {result['page_open_s_p95']} s, max {result['page_open_s_max']} s"
        )
        print(
            f"moves without a reply: {result['moves_without_reply']}; session errors: {len(result['session_errors'])}"
        )
        if cpu_used is not None:
            print(
                f"server CPU: {result['server_cpu_s_per_session']} s per session (all its processes), "
                f"{result['server_cpu_s']} s in all; this client's CPU: {result['client_cpu_s']} s"
            )
        print(f"machine load average (1 min): {result['load_average_1min']}")
        for error in result["session_errors"]:
            print("  " + error)
    return 0 if not stats["errors"] and stats["sessions"] == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
