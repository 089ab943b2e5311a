"""The server's CPU for one student's page, without a browser: `python -m benchmarks.pagebench`.

A page is built as `panel serve` builds it for a session (with session reuse, `serving.py`, the
page's HTML is shared and each session's document is built when its websocket connects):
`create_app()`, then the template's `server_doc` into a fresh Bokeh `Document`, then the document
serialised as the browser's first pull gets it (Bokeh's `PULL-DOC-REPLY` message: `doc.to_json()`,
as JSON). After a few warm pages, each of the measured pages is timed in CPU seconds
(`time.process_time`); prints the median, the number of Bokeh models and the size of the reply,
and with `--profile N` cProfile's top N entries (by cumulative time) over the measured pages.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time

PHASES = ("create_app", "server_doc", "serialise")


def build_page(phases: dict | None = None) -> tuple[int, int]:
    """Build, serialise and drop one page; returns (Bokeh models, bytes of the serialised document).

    `phases`, if given, gets each phase's CPU seconds appended (create_app, server_doc, serialise).
    """
    from bokeh.document import Document
    from bokeh.protocol import Protocol
    from panel.io.state import set_curdoc

    import dashboard.app as page
    from dashboard.server.panel_compat import forget_periodic_callbacks

    document = Document()
    clock = [time.process_time()]
    with set_curdoc(document):
        template, _ = page.create_app()
        clock.append(time.process_time())
        template.server_doc(document)
        clock.append(time.process_time())
        reply = Protocol().create("PULL-DOC-REPLY", "pull", document)  # what a session's first pull gets
        size = len(reply.content_json) + sum(len(buffer.data) for buffer in reply.buffers)
        clock.append(time.process_time())
    if phases is not None:
        for name, start, end in zip(PHASES, clock, clock[1:], strict=False):
            phases.setdefault(name, []).append(end - start)
    forget_periodic_callbacks(document)  # (no session, no event loop: its periodic callbacks never run)
    models = len(document.models)
    document.clear()
    return models, size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pagebench", description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="measured pages (default 20)")
    parser.add_argument("--warm", type=int, default=3, help="pages built first and not measured (default 3)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N (0: none)")
    args = parser.parse_args(argv)
    if args.pages < 1 or args.warm < 0:
        print("--pages must be at least 1 and --warm at least 0", file=sys.stderr)
        return 2

    from dashboard.server import serving, warmup

    warmup.warm_first_page()  # the solvers and the first result: what a warm server has
    serving.page_ready()
    serving.configure_server()
    for _ in range(args.warm):
        build_page()
    profiler = cProfile.Profile() if args.profile else None
    times, phases = [], {}
    for _ in range(args.pages):
        if profiler is not None:
            profiler.enable()
        start = time.process_time()
        models, size = build_page(phases)
        times.append(time.process_time() - start)
        if profiler is not None:
            profiler.disable()
    print(
        f"page: median {statistics.median(times) * 1e3:.0f} ms of CPU (min {min(times) * 1e3:.0f}, "
        f"max {max(times) * 1e3:.0f}) over {args.pages} pages after {args.warm} warm; "
        f"{models} Bokeh models, {size / 1e3:.0f} kB serialised"
    )
    print("  " + ", ".join(f"{name} {statistics.median(phases[name]) * 1e3:.0f} ms" for name in PHASES))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print("(profiled: times include cProfile's overhead)")
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
