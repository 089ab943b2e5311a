"""Server CPU per slider move, without a browser: `python -m benchmarks.movebench [--moves 40] [--profile]`.

Builds one page as `panel serve` does (`app.create_app()` under a Bokeh `Document`), then moves the
seed slider the way a browser's change arrives (the slider's Bokeh model changes, Panel's watchers
run: the state solves, the Explore tab redraws under `pn.io.hold()`), and serialises what the page
would send back as Bokeh does (`PATCH-DOC` with its binary buffers). Reports the median CPU
(`time.process_time`) per move and the bytes sent, for a new solve every move (seed + 1) and for a
solve the cache answers (the seed toggled between two seen values); `--profile` adds a cProfile top 20.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import statistics
import time

from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent, SessionCallbackAdded
from bokeh.protocol import Protocol
from panel.io.state import set_curdoc

from dashboard.server.browser_patch import model_of
from dashboard.server.panel_compat import mark_connected

PROTOCOL = Protocol()


class Page:
    """One page built as a served session builds it, with the document's change events recorded."""

    def __init__(self):
        from dashboard import app
        from dashboard.server import warmup

        warmup.WARM.set()  # solve at once (no deferred first solve)
        self.doc = Document()
        with set_curdoc(self.doc):
            self.template, self.app = app.create_app()
            self.template.server_doc(self.doc)
        # Connected, as once the browser has the page: a `pn.io.hold()` then sends its changes
        # (an unconnected document drops them: it is sent whole when the session connects).
        mark_connected(self.doc)
        self.events: list = []
        self.doc.on_change(self.events.append)
        # The seed slider's Bokeh model in this document (a throttled slider sends `value_throttled`
        # on release, and `value` while dragged).
        self.slider_model = model_of(self.app.controls.seed, self.doc)

    def _run_next_ticks(self):
        """Run the callbacks Panel scheduled on the event loop's next turn, as the server's loop would."""
        done = 0
        while done < len(self.events):
            event = self.events[done]
            done += 1
            if isinstance(event, SessionCallbackAdded):
                callback = event.callback
                with contextlib.suppress(ValueError):  # (already removed: it ran)
                    self.doc.callbacks.remove_session_callback(callback)
                callback.callback()

    def move(self, seed: int) -> int:
        """Set the seed as a browser's change would; returns the bytes of the patch sent back."""
        self.events.clear()
        with set_curdoc(self.doc):
            # As Bokeh applies a browser's PATCH-DOC: `set_from_json`, with the connection as setter.
            self.slider_model.set_from_json("value", seed, setter=self)
            self.slider_model.set_from_json("value_throttled", seed, setter=self)
            self._run_next_ticks()
        # The browser's own change is not echoed back to it.
        events = [
            e for e in self.events if isinstance(e, DocumentPatchedEvent) and getattr(e, "setter", None) is not self
        ]
        if not events:
            return 0
        msg = PROTOCOL.create("PATCH-DOC", events)
        size = len(msg.header_json) + len(msg.metadata_json) + len(msg.content_json)
        return size + sum(memoryview(b.data).nbytes for b in msg.buffers)


def measure(page: Page, seeds, label: str) -> dict:
    cpu, sizes = [], []
    for seed in seeds:
        start = time.process_time()
        sizes.append(page.move(seed))
        cpu.append((time.process_time() - start) * 1e3)
    result = {
        "what": label,
        "moves": len(cpu),
        "cpu_ms_median": statistics.median(cpu),
        "cpu_ms_p90": sorted(cpu)[int(0.9 * (len(cpu) - 1))],
        "bytes_median": statistics.median(sizes),
    }
    print(
        f"{label}: {result['moves']} moves, CPU per move median {result['cpu_ms_median']:.1f} ms "
        f"(p90 {result['cpu_ms_p90']:.1f}), patch {result['bytes_median'] / 1e3:.1f} kB"
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--pages", type=int, default=1, help="pages open in this process (the last one moves)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    others = [Page() for _ in range(args.pages - 1)]  # noqa: F841 - kept open, as a class's pages are
    page = Page()
    base = int(page.slider_model.value)
    for k in range(1, 6):  # warm: compiles, first paths
        page.move(base + k)
    new = [base + 100 + k for k in range(args.moves)]
    results = [measure(page, new, "new solve")]
    cached = [new[-2 + (k % 2)] for k in range(args.moves)]
    results.append(measure(page, cached, "cached solve"))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for seed in [base + 1000 + k for k in range(args.moves)]:
            page.move(seed)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats("dashboard|serializ|hold|protocol", 25)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    return results


if __name__ == "__main__":
    main()
