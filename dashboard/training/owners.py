"""Whose models are whose: an owner id per browser, and the names students give their models.

A served session takes its owner id from the browser's cookie `l63_owner` (`pn.state.cookies`); a
browser without one gets a fresh random id, which `OwnerCookie` (placed on the Train tab) stores in
the browser, so that a reload of the page lists the same student's models again. The id is 128
random bits, never shown on a page nor written into a file name or a URL: it sits in the model
file's header (`info["owner"]`). Outside a served session (tests, scripts) the owner is "" (the
local user), whose models are the ones saved without an owner.

No Panel import at module level but for the cookie component; the checks are plain functions.
"""

from __future__ import annotations

import re
import secrets

import param
from panel.reactive import ReactiveHTML

COOKIE = "l63_owner"
COOKIE_MAX_AGE_S = 180 * 24 * 3600  # a school term and more
_OWNER_ID = re.compile(r"[0-9a-f]{32}")

NAME_FIELD = "Model name"
NAME_MAX = 40
_NAME = re.compile(r"[A-Za-z0-9 _\-]+")
NAME_RULE = f"1 to {NAME_MAX} characters: letters, digits, spaces, '-' or '_'"


def new_owner_id() -> str:
    return secrets.token_hex(16)


def owner_from_cookies(cookies) -> str | None:
    """The owner id in a request's cookies, if there is a well-formed one (anything else is ignored)."""
    try:
        value = cookies.get(COOKIE) if cookies else None
    except Exception:  # noqa: BLE001 - a cookie jar of an unexpected kind: no owner
        return None
    return value if isinstance(value, str) and _OWNER_ID.fullmatch(value) else None


def _served() -> bool:
    import panel as pn

    doc = pn.state.curdoc
    return doc is not None and getattr(doc, "session_context", None) is not None


def cookie_owner() -> str:
    """The owner id this served session's browser already carries, else "" (a page lists the
    models of its owner from the start, before the Train tab is ever opened)."""
    if not _served():
        return ""
    import panel as pn

    try:
        cookies = pn.state.cookies
    except Exception:  # noqa: BLE001 - no request at hand (e.g. a session built by a test harness)
        cookies = None
    return owner_from_cookies(cookies) or ""


def session_owner(default: str = "") -> str:
    """This served session's owner id: the browser's cookie, else a new one; `default` when not served."""
    if not _served():
        return default
    return cookie_owner() or new_owner_id()


def check_model_name(name) -> str:
    """The name a student typed for a model, stripped and checked.

    Raises:
        ValueError: not 1..NAME_MAX characters of letters, digits, spaces, '-' and '_' (so no path
            separator, dot or markup ever reaches a file name or a page); the message names the field.
    """
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > NAME_MAX or not _NAME.fullmatch(text):
        shown = name if isinstance(name, str) and len(name) <= 60 else f"{str(name)[:60]}..."
        raise ValueError(f"{NAME_FIELD} must be {NAME_RULE}; got {shown!r}")
    return re.sub(r"\s+", " ", text)


class OwnerCookie(ReactiveHTML):
    """Invisible: stores `owner` in the browser's `l63_owner` cookie (path /, SameSite=Lax)."""

    owner = param.String(default="")

    _template = '<div id="owner_cookie" style="display:none"></div>'
    _script = (
        f"if (data.owner) {{ document.cookie = '{COOKIE}=' + data.owner + "
        f"'; path=/; max-age={COOKIE_MAX_AGE_S}; SameSite=Lax'; }}"
    )
    _scripts = {"render": _script, "owner": _script}

    def __init__(self, **params):
        super().__init__(width=0, height=0, margin=0, **params)
