"""What each session's page is built with: the solver that waits for the warm-up, the handler of any
error escaping a callback, and the template attached with Bokeh's model graph frozen."""

from __future__ import annotations

import logging

import panel as pn

from dashboard.data import compute
from dashboard.server import warmup
from dashboard.views.controls import refusal_message

log = logging.getLogger("dashboard")


class FirstSolve:
    """The state's solver while this process has not solved anything yet (no `--setup` warm-up).

    Until `release()` it returns None (nothing to draw yet), so that the first page is sent to the
    browser at once, with a progress note, instead of after the JIT compile (seconds); `release()`
    then solves for real and every later call goes straight to `compute.solve`.
    """

    def __init__(self):
        self.deferred = not warmup.WARM.is_set()

    def __call__(self, settings):
        if self.deferred:
            return None
        return compute.solve(settings)

    def release(self):
        self.deferred = False


def exception_handler(exc: Exception):
    """Any error escaping a callback: a short note for the student. A value the state refused (out
    of its bounds, e.g. crafted in the browser) says why; anything else is logged for the teacher."""
    message = refusal_message(exc)
    if message is None:
        log.error("callback failed", exc_info=exc)
        message = "Something went wrong with that action; the page keeps working."
    else:
        log.warning("%s", message)
    try:
        if pn.state.notifications is not None:
            pn.state.notifications.error(message, duration=8000)
    except Exception:  # noqa: BLE001
        pass


def attach_frozen(server_doc, doc=None, *args, **kwargs):
    """The template's `server_doc` with the document's model graph frozen: Bokeh otherwise walks the
    whole page again after each of the template's roots is added and after each JS link is set up
    (13 walks of ~230 models, ~40% of a page's build); frozen, it walks it once at the end.
    (`servable()` attaches the page through `server_doc`, as `warmup` and the benchmarks do.)"""
    document = doc if doc is not None else pn.state.curdoc
    if document is None:
        return server_doc(doc, *args, **kwargs)
    with document.models.freeze():
        return server_doc(document, *args, **kwargs)
