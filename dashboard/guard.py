"""Refuse every HTTP request whose Host (or Origin) is not on the server's allowlist.

Bokeh checks a websocket's Origin against `--allow-websocket-origin`, but Tornado skips that check
when the Origin equals the Host (or the browser says `Sec-Fetch-Site: same-origin`). A page served
under a foreign name that resolves to this server (DNS rebinding: `Host: evil.example:5006`,
`Origin: http://evil.example:5006`) would therefore get a live session. Here the Host itself must be
on the allowlist, for the page, its resources and the websocket alike, and so must the Origin when
the browser sends one; anything else gets a 403 before any handler runs.

The allowlist is the server's own: the values of `--allow-websocket-origin` (or
`BOKEH_ALLOW_WS_ORIGIN`), as Bokeh reads them (`localhost:<port>` when none is given).

`install()` wraps `BokehTornado.find_handler` (every request of every route goes through it). It is
called by the app on the first session of a process, and may be run earlier as a `--setup` script
(`panel serve dashboard/app.py --setup dashboard/guard.py ...`); the first session itself is checked
by `session_allowed()` on the request that created it, so the very first request is refused too.
"""

from __future__ import annotations

import gc
import logging
import weakref
from urllib.parse import urlparse

from bokeh.server.tornado import BokehTornado
from bokeh.server.util import check_allowlist
from bokeh.settings import settings
from tornado.web import ErrorHandler

log = logging.getLogger(__name__)

REFUSED = "This server does not serve pages under that host name (see the server's `--allow-websocket-origin`)."

# The unguarded method, kept on the class so that a second copy of this module (e.g. run as a setup
# script, then imported by the app) wraps the original, not the other copy's wrapper.
if not hasattr(BokehTornado, "_unguarded_find_handler"):
    BokehTornado._unguarded_find_handler = BokehTornado.find_handler


def allowlist(app: BokehTornado) -> set[str]:
    """The hosts (`host:port`, wildcards allowed) this server accepts, as Bokeh's origin check does."""
    if settings.allowed_ws_origin():
        return set(settings.allowed_ws_origin())
    return set(app.websocket_origins)


def refusal(headers, allowed: set[str]) -> str | None:
    """Why a request with these headers is refused, or None when its Host (and Origin) are allowed."""
    host = (headers.get("Host") or "").strip().lower()
    if not host or not check_allowlist(host, allowed):
        return f"Host {host!r} is not allowed"
    origin = headers.get("Origin")
    if origin is not None:
        netloc = urlparse(origin.strip()).netloc.lower()
        if not netloc or not check_allowlist(netloc, allowed):
            return f"Origin {origin!r} is not allowed"
    return None


_seen_servers: weakref.WeakSet = weakref.WeakSet()  # servers whose requests went through the guard


def _guarded_find_handler(self, request, **kwargs):
    _seen_servers.add(self)
    why = refusal(request.headers, allowlist(self))
    if why is None:
        return BokehTornado._unguarded_find_handler(self, request, **kwargs)
    log.warning("refused %s %s: %s (allowed: %s)", request.method, request.path, why, sorted(allowlist(self)))
    return self.get_handler_delegate(request, ErrorHandler, {"status_code": 403})


def install() -> None:
    """Guard every request of every Bokeh server of this process (idempotent)."""
    BokehTornado.find_handler = _guarded_find_handler


def installed() -> bool:
    return getattr(BokehTornado.find_handler, "__name__", "") == "_guarded_find_handler"


def _servers() -> list[BokehTornado]:
    # The servers the guard has already seen a request for: a scan of every object in the process
    # (gc) cost ~0.15 s per page, so it is only the fallback before the first guarded request.
    seen = list(_seen_servers)
    return seen or [o for o in gc.get_objects() if isinstance(o, BokehTornado)]


def session_allowed(session_context) -> bool:
    """Whether the request that created this session came with an allowed Host and Origin.

    The headers are those of the real HTTP request (a session created by a websocket carries the
    headers its token claims; those are not trusted). With no request (not served), True.
    """
    request = getattr(session_context, "request", None)
    real = getattr(request, "_request", request)
    headers = getattr(real, "headers", None)
    if headers is None:
        return True
    servers = _servers()
    if not servers:
        return True
    allowed = set().union(*(allowlist(s) for s in servers))
    why = refusal(headers, allowed)
    if why is not None:
        log.warning("refused a session: %s (allowed: %s)", why, sorted(allowed))
    return why is None


if __name__ == "panel_setup_module":  # run as `panel serve ... --setup dashboard/guard.py`
    install()
