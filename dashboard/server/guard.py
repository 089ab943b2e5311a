"""Refuse every HTTP request whose Host (or Origin) is not on the server's allowlist.

Bokeh checks a websocket's Origin against `--allow-websocket-origin`, but Tornado skips that check
when the Origin equals the Host (or the browser says `Sec-Fetch-Site: same-origin`). A page served
under a foreign name that resolves to this server (DNS rebinding: `Host: evil.example:5006`,
`Origin: http://evil.example:5006`) would therefore get a live session. Here the Host itself must be
on the allowlist, for the page, its resources and the websocket alike, and so must the Origin when
the browser sends one; anything else gets a 403 before any handler runs.

Two more routes are checked here before their handler runs, each with a clean 4xx and one log line:

- `/components/<module>/<Class>/<attr>/<path>` (Panel's `ComponentResourceHandler`) imports the module
  named in the URL, with its side effects, for anyone who can reach the page (`core.__main__` used to
  stop the server that way). Only a component class this process has already imported, defined in
  the module named, and one of Panel's resource-bearing kinds (`component_class`) is passed on;
  anything else is a 404, and nothing is ever imported for a URL.
- A websocket upgrade whose Bokeh token is missing or malformed (`websocket_refusal`) is a 403: Bokeh
  would first accept the upgrade (101) and then fail in `open` with a traceback.

The allowlist is the server's own: the values of `--allow-websocket-origin` (or
`BOKEH_ALLOW_WS_ORIGIN`), as Bokeh reads them (`localhost:<port>` when none is given).

`install()` wraps `BokehTornado.find_handler` (every request of every route goes through it) with
`panel_compat.replace_method`. It is called by the app on the first session of a process, and may be
run earlier as a `--setup` script (`panel serve dashboard/app.py --setup dashboard/server/guard.py ...`); the
first session itself is checked by `session_allowed()` on the request that created it, so the very
first request is refused too.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
import weakref
from urllib.parse import unquote, urlparse

from bokeh.server.tornado import BokehTornado
from bokeh.server.util import check_allowlist
from bokeh.settings import settings
from bokeh.util.token import check_token_signature, get_token_payload
from panel.io.resources import COMPONENT_PATH, ResourceComponent
from panel.reactive import Reactive
from panel.theme.base import Design, Theme
from tornado.web import ErrorHandler

from dashboard.server.panel_compat import original_method, replace_method, session_request

log = logging.getLogger(__name__)

REFUSED = "This server does not serve pages under that host name (see the server's `--allow-websocket-origin`)."


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


# What a `/components/` URL may name: the classes whose resources Panel serves through that route.
COMPONENT_KINDS = (ResourceComponent, Reactive, Design, Theme)


def component_class(module_name: str, class_name: str) -> type | None:
    """The component class a `/components/<module>/<Class>/...` URL names, or None if this page serves
    no such component: the module must be imported already (it is never imported here), the class
    defined in it, and of a kind whose resources Panel serves (`COMPONENT_KINDS`)."""
    if not all(part.isidentifier() for part in module_name.split(".")) or not class_name.isidentifier():
        return None
    module = sys.modules.get(module_name)
    if module is None or module_name == "__main__":
        return None
    component = getattr(module, class_name, None)
    if not isinstance(component, type) or component.__module__ != module_name:
        return None
    return component if issubclass(component, COMPONENT_KINDS) else None


def component_refusal(path: str, prefix: str = "") -> str | None:
    """Why a request for `path` on the components route is refused, or None (not that route, or a
    component the page may serve: Panel's handler then checks that the file is one it lists)."""
    route = f"{prefix.rstrip('/')}/{COMPONENT_PATH}"
    if not path.startswith(route):
        return None
    parts = unquote(path[len(route) :]).split("/")
    if len(parts) < 4 or component_class(parts[0], parts[1]) is None:
        return "no such component on this page"
    return None


def websocket_refusal(headers, secret_key: bytes | None, signed: bool) -> str | None:
    """Why a websocket upgrade with these headers is refused (its Bokeh token), or None.

    Bokeh reads the token from `Sec-WebSocket-Protocol: bokeh, <token>` only after it has accepted
    the upgrade, and a malformed one then fails with a traceback; here it is checked before.
    """
    protocols = [p.strip() for p in (headers.get("Sec-WebSocket-Protocol") or "").split(",")]
    if len(protocols) != 2 or protocols[0] != "bokeh" or not protocols[1]:
        return "no Bokeh session token"
    token = protocols[1]
    try:
        valid = check_token_signature(token, secret_key=secret_key, signed=signed)
        payload = get_token_payload(token)
    except Exception:  # noqa: BLE001 - any token that cannot be read is malformed
        return "a malformed session token"
    if not valid:
        return "a session token with a wrong signature"
    expiry = payload.get("session_expiry") if isinstance(payload, dict) else None
    now = time.time()
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or now >= expiry:
        return "an expired session token"
    return None


def _is_websocket(request) -> bool:
    return (request.headers.get("Upgrade") or "").strip().lower() == "websocket"


_seen_servers: weakref.WeakSet = weakref.WeakSet()  # servers whose requests went through the guard


def _guarded_find_handler(self, request, **kwargs):
    _seen_servers.add(self)
    why = refusal(request.headers, allowlist(self))
    if why is not None:
        log.warning("refused %s %s: %s (allowed: %s)", request.method, request.path, why, sorted(allowlist(self)))
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": 403})
    status, why = 404, component_refusal(request.path, self.prefix)
    if why is None and _is_websocket(request):
        status, why = 403, websocket_refusal(request.headers, self.secret_key, self.sign_sessions)
    if why is not None:
        log.warning("refused %s %s: %s", request.method, _short_path(request.path), why)
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": status})
    return original_method(BokehTornado, "find_handler")(self, request, **kwargs)


def _short_path(path: str) -> str:
    return repr(path if len(path) <= 120 else path[:117] + "...")


def install() -> None:
    """Guard every request of every Bokeh server of this process (idempotent)."""
    replace_method(BokehTornado, "find_handler", _guarded_find_handler)


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
    headers = getattr(session_request(session_context), "headers", None)
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


if __name__ == "panel_setup_module":  # run as `panel serve ... --setup dashboard/server/guard.py`
    install()
