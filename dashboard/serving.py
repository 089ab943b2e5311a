"""How this server process serves pages to a class: the Host/Origin guard and session reuse.

`configure_server()` runs once per server process, from the `--setup` script (`warmup.py`) before
the first request, or from the app on its first session when no setup script was given.

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

import panel as pn
from panel.io.resources import get_dist_path
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from dashboard import guard

log = logging.getLogger(__name__)


def configure_server() -> None:
    """Guard every request (Host/Origin allowlist) and reuse the page's HTML across sessions (idempotent)."""
    guard.install()
    pn.config.reuse_sessions = True
    quiet_closed_sockets()


def serve_stylesheets_locally() -> None:
    """Point this session's component stylesheets at this server, never at Panel's CDN.

    With session reuse a student's session is built when the websocket connects, without the HTML
    render that sets the document's `dist_url`; Panel then falls back to its CDN, which an offline
    classroom cannot reach (tests/browser/test_dashboard_browser.py checks every request a page makes).
    """
    doc = pn.state.curdoc
    if doc is not None:
        doc._template_variables.setdefault("dist_url", get_dist_path(cdn=False))


def _closed_socket(context: dict) -> bool:
    exc = context.get("exception")
    return isinstance(exc, (WebSocketClosedError, StreamClosedError))


def quiet_closed_sockets(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """No traceback in the teacher's terminal when a student closes a tab (idempotent).

    Panel writes a patch to a page's websocket as fire-and-forget Tornado futures; when the tab
    closes mid-write they fail with `WebSocketClosedError`, nobody awaits them, and asyncio prints
    "Task exception was never retrieved" with two tracebacks. A closed page is not an error: those
    are logged at debug level; every other unhandled error goes to the loop's previous handler.
    """
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
