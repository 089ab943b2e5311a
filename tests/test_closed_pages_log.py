"""A student closing a tab is no event for the teacher's terminal: Bokeh's and Panel's one-line warning
of it goes to debug level once the server is set up (dashboard/server/serving.py); other warnings stay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from bokeh.server.views.ws import WSHandler
from tornado.websocket import WebSocketClosedError

from dashboard.server import serving


class _MessageToAClosedPage:
    async def send(self, handler):
        raise WebSocketClosedError()


@contextlib.contextmanager
def _lines(level: int):
    """What Bokeh's and Panel's loggers write at `level` (Panel's logger does not propagate to the root)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in serving.CLOSED_PAGE_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger, old in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(old)


def _send_to_a_closed_page():
    """Bokeh's own send (`WSHandler.send_message`) to a socket that closed meanwhile (in a thread of its
    own: the browser tests' Playwright keeps an event loop running in this one)."""
    sender = threading.Thread(
        target=asyncio.run, args=(WSHandler.send_message(object.__new__(WSHandler), _MessageToAClosedPage()),)
    )
    sender.start()
    sender.join()


def test_a_message_to_a_closed_page_is_logged_at_debug_level_only():
    serving.quiet_closed_sockets()  # what the server's setup and every page's build call
    serving.quiet_closed_sockets()  # (idempotent: one filter, one line)
    panel_log = logging.getLogger("panel.io.document")
    with _lines(logging.INFO) as records:
        for _ in range(3):
            _send_to_a_closed_page()
        panel_log.warning("Failed sending message as connection was closed")  # Panel's words for it
        panel_log.warning("Failed sending message due to following error: boom")  # not a closed page
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", "Failed sending message due to following error: boom")
    ]
    with _lines(logging.DEBUG) as records:  # `--log-level debug` still shows them
        _send_to_a_closed_page()
        panel_log.warning("Failed sending message as connection was closed")
    assert [(r.name, r.levelname) for r in records] == [
        ("bokeh.server.views.ws", "DEBUG"),
        ("panel.io.document", "DEBUG"),
    ]
