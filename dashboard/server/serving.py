"""How this server process serves pages to a class: a page at once, the Host/Origin guard, session reuse.

`configure_server()` runs once per server process, from the `--setup` script (`warmup.py`) before
the first request, or from the app on its first session when no setup script was given.

A page at once (`serve_while_warming`): a plain `panel serve dashboard/app.py` imports nothing of
ours until the first page is asked for, and that page needs JAX, the solvers, the trained models
and a first solve (~2-3 s on a restart, more on a fresh machine, where every program compiles).
Until this process has them (`PAGE_READY`), a page is a light one, built from Panel alone: the
title, a progress bar and what the server is doing. The first such page starts the warm-up in a
background thread (`warmup.warm_first_page`); every waiting page polls it and reloads itself once
it is done, and the full page is then built at once. With `--setup dashboard/server/serving.py` (the
README's command: `Warming.preload`) or the classroom's `--setup dashboard/server/warmup.py`, the warm-up
runs before the server answers, and no student sees the light page.

Session reuse (Panel's `reuse_sessions`): the page's HTML (the template, identical for every
student) is rendered from one kept session, and each student's own session is built when the
browser's websocket connects. A page is then built once per student, on the process that serves
the websocket. Without it, the GET builds a session too, and with `--num-procs 2` (no session
affinity: the GET and the websocket land on either process) about half the pages were built twice.
Nothing on the page depends on the URL at HTML time: the settings in the URL are read by the
session itself (`pn.state.location`), so reusing the HTML is safe.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from pathlib import Path

try:
    import dashboard  # noqa: F401
except ImportError:  # run as `--setup` from a checkout that is not installed: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import panel as pn
from panel.io.resources import get_dist_path
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from dashboard.server import (
    guard,
    pagefirst,  # noqa: E402
)

log = logging.getLogger(__name__)

PAGE_READY = threading.Event()  # set once this process can build the full page at once (solvers warm)
POLL_MS = 100  # how often a light page looks whether the full page is ready
GREY = {"color": "#555"}
FIRST_PAGE_DRAWN = threading.Event()  # set when a browser has drawn this process's first full page
SOLVERS_AFTER_S = 10.0  # the solvers load once the first full page is drawn, or after this long at most


def configure_server() -> None:
    """Guard every request (Host/Origin allowlist) and reuse the page's HTML across sessions (idempotent).

    Session reuse starts only once the full page can be built: a light page's session must never
    be the one whose HTML is reused (it would be served to every later student). With `--engine`
    (or `L63_ENGINE`), connect to the engine that the class's servers share, or stop with one line
    naming the flag (`engine.check_at_start`).
    """
    from dashboard.training import engine  # (no Dask, no JAX: light)

    engine.check_at_start()
    guard.install()
    if PAGE_READY.is_set():
        # For the whole process: `pn.config.reuse_sessions = True` made inside a session (this may
        # run in the first page's) is kept by Panel for that session alone, and every page was then
        # built twice. Setting the parameter itself, past Panel's per-session override, is global.
        object.__setattr__(pn.config, "reuse_sessions", True)
    quiet_closed_sockets()


def page_drawn() -> None:
    """A full page is drawn in a browser (its `onload`): background work may start without slowing it."""
    FIRST_PAGE_DRAWN.set()
    pagefirst.page_drawn_now()


def page_ready() -> None:
    """The solvers are warm: from now on every page is the full one.

    Session reuse is turned on by the first full page's own session (`configure_server`), which
    becomes the kept one: that page is then built once, not once for its HTML and again for its
    websocket.
    """
    PAGE_READY.set()


class Warming:
    """The first page's warm-up of this process, in a background thread: its stage, progress, error."""

    def __init__(self):
        self.stage = "starting"
        self.fraction = 0.0
        self.error: str | None = None
        self.started_at: float | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the warm-up once per process (idempotent; nothing to do once the page is ready)."""
        with self._lock:
            if self._thread is not None or PAGE_READY.is_set():
                return
            self.started_at = time.perf_counter()
            self._thread = threading.Thread(target=self._run, name="l63-warm-first-page", daemon=False)
            self._thread.start()

    def claim(self, stage: str) -> None:
        """Another warm-up prepares this process (the `--setup dashboard/server/warmup.py` script, which
        `--num-procs` runs after the server answers): light pages show it and wait, none starts its own."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.current_thread()
                self.started_at = time.perf_counter()
        self.progress(stage, 0.1)

    def progress(self, stage: str, fraction: float) -> None:
        self.stage, self.fraction = stage, fraction
        log.info("first page: %s (%.1f s)", stage, time.perf_counter() - (self.started_at or time.perf_counter()))

    def preload(self) -> None:
        """Before the server answers (`--setup dashboard/server/serving.py`): all the first page needs, so that
        every page is the full one from the first (~2 s on a restart; the first start also compiles,
        a few seconds more), and one page built and dropped (`warmup.rehearse_page`). Only the
        solvers' warm-up after a stored result runs in the background.

        Measured (docs/classroom.md, "Start"): this is quicker from the command to the plots than
        answering at once with light pages and reloading them when warm (the reload costs a second page).
        """
        with self._lock:
            if self._thread is not None or PAGE_READY.is_set():
                return
            self.started_at = time.perf_counter()
            self._thread = threading.current_thread()
        stored = self._prepare()
        if stored is False:
            self._finish(stored)
        if stored is not None and not self.error:
            try:
                from dashboard.server import warmup

                log.info("a page rehearsed in %.2f s", warmup.rehearse_page())
            except Exception:  # noqa: BLE001 - only a rehearsal: the real pages will say what is wrong
                log.warning("rehearsing a page failed", exc_info=True)
        if stored:
            threading.Thread(target=self._finish, args=(stored,), name="l63-warm-solvers", daemon=False).start()

    def _run(self) -> None:
        stored = self._prepare()
        if stored is not None:
            self._finish(stored)

    def _prepare(self) -> bool | None:
        """Imports, models, the stored result: True if the page is ready, None on an error."""
        try:
            self.progress("importing JAX and the solvers", 0.05)
            from dashboard.server import warmup  # (JAX, Equinox, Optimistix, HoloViews: the slow imports)

            return warmup.prepare_first_page(self.progress)
        except Exception as exc:  # noqa: BLE001 - said on every waiting page and in the terminal
            self._failed(exc)
            return None

    def _finish(self, stored: bool) -> None:
        try:
            from dashboard.server import warmup

            if not stored:
                warmup.solve_first_page(self.progress)
            self.progress("ready", 1.0)
            page_ready()
            if stored:  # the first page came from the store: load the solvers once it is drawn
                FIRST_PAGE_DRAWN.wait(timeout=SOLVERS_AFTER_S)
                log.info("solvers loaded in %.1f s", warmup.warm_solvers())
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        log.error("the first page's warm-up failed", exc_info=exc)
        self.error = f"{exc.__class__.__name__}: {exc}"


WARMING = Warming()


def serve_while_warming(title: str, header_background: str) -> pn.template.BootstrapTemplate:
    """A light page (Panel only) that shows the warm-up's progress and reloads itself once it is done.

    Starts the warm-up if nobody has yet. Returns the template (to be made servable).
    """
    WARMING.start()
    pn.extension(design="bootstrap")
    note = pn.pane.Markdown(
        "**Preparing the solvers.** This server has just started: it is loading JAX and the solvers "
        "(and compiling them, the very first time). The page appears by itself in a few seconds.",
        sizing_mode="stretch_width",
    )
    stage = pn.pane.Markdown(f"Now: {WARMING.stage}", styles=GREY)
    bar = pn.indicators.Progress(value=int(100 * WARMING.fraction), max=100, sizing_mode="stretch_width", height=20)
    # Laid out as the full page is (header, sidebar, main), so that nothing jumps when it comes.
    template = pn.template.BootstrapTemplate(title=title, header_background=header_background, sidebar_width=300)
    template.sidebar.append(pn.pane.Markdown("The settings appear here once the solvers are ready.", styles=GREY))
    template.main.append(pn.Column(note, bar, stage, sizing_mode="stretch_width", css_classes=["l63-warming"]))

    polling = []

    def poll():
        if WARMING.error:
            # (the error itself, which may name a server path, goes to the teacher's terminal only)
            note.object = "**The solvers could not be prepared.** The teacher's terminal says why."
            bar.param.update(value=0, bar_color="danger")
            return
        stage.object = f"Now: {WARMING.stage}"
        bar.value = int(100 * WARMING.fraction)
        location = pn.state.location
        if PAGE_READY.is_set() and location is not None and not location.reload:
            location.reload = True  # the browser reloads the same URL: the full page
            for callback in polling:
                callback.stop()

    def on_load():
        polling.append(pn.state.add_periodic_callback(poll, period=POLL_MS))
        poll()

    pn.state.onload(on_load)
    return template


def serve_stylesheets_locally() -> None:
    """Point this session's component stylesheets at this server, never at Panel's CDN.

    With session reuse a student's session is built when the websocket connects, without the HTML
    render that sets the document's `dist_url`; Panel then falls back to its CDN, which an offline
    classroom cannot reach (tests/browser/test_dashboard_browser.py checks every request a page makes).
    """
    doc = pn.state.curdoc
    if doc is not None:
        doc.template_variables.setdefault("dist_url", get_dist_path(cdn=False))


# Bokeh (a message to a closed websocket) and Panel (a patch written to one) each warn of it in one line.
CLOSED_PAGE_LOGGERS = ("bokeh.server.views.ws", "panel.io.document")
CLOSED_PAGE_MESSAGE = "Failed sending message as connection was closed"


class ClosedPageToDebug(logging.Filter):
    """A student closed a tab while the server wrote to it: a debug line, not a warning.

    Installed on the logger that writes it, a filter sees the record after that logger's level check:
    it lowers the record to DEBUG and lets it through only where DEBUG is logged (`--log-level debug`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and record.getMessage() == CLOSED_PAGE_MESSAGE:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_closed_pages_in_log() -> None:
    """Bokeh's and Panel's "Failed sending message as connection was closed" at debug level (idempotent)."""
    for name in CLOSED_PAGE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClosedPageToDebug) for f in logger.filters):
            logger.addFilter(ClosedPageToDebug())


def _closed_socket(context: dict) -> bool:
    exc = context.get("exception")
    return isinstance(exc, (WebSocketClosedError, StreamClosedError))


def quiet_closed_sockets(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """No traceback in the teacher's terminal when a student closes a tab (idempotent).

    Panel writes a patch to a page's websocket as fire-and-forget Tornado futures; when the tab
    closes mid-write they fail with `WebSocketClosedError`, nobody awaits them, and asyncio prints
    "Task exception was never retrieved" with two tracebacks. A closed page is not an error: those
    are logged at debug level; every other unhandled error goes to the loop's previous handler.
    Bokeh's and Panel's own warning of it goes to debug level too (`quiet_closed_pages_in_log`).
    """
    quiet_closed_pages_in_log()
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
    previous = loop.get_exception_handler()
    if getattr(previous, "quiet_closed_sockets", False):
        return

    def handler(loop, context):
        if _closed_socket(context):
            log.debug("a page closed while the server was writing to it: %s", context.get("message"))
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiet_closed_sockets = True
    loop.set_exception_handler(handler)


if __name__ == "panel_setup_module":  # `panel serve dashboard/app.py --setup dashboard/server/serving.py`
    from dashboard.server import serving as _shared  # (this file runs

    _shared.configure_server()
    _shared.WARMING.preload()
