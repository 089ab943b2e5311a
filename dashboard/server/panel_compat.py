"""Every use of Panel's and Bokeh's private parts, in one place, each with why no public form serves.

Tested with the versions `pyproject.toml` declares (`TESTED`). At import this module compares them
with the installed ones and logs one WARNING when either falls outside: these are the lines that a
new Panel or Bokeh may break first (tests/test_panel_compat.py checks each one still does its job).

What is here, and what public form is missing:

- `replace_method` / `original_method`: a class attribute of Bokeh's replaced by our wrapper, the
  original kept. Bokeh has no hook before a request's handler is chosen (`guard.py` wraps
  `BokehTornado.find_handler`) nor before a browser's change is applied (`refusal.py` wraps
  `patch_doc.apply_to_document`).
- `session_request`: the real HTTP request behind a session (Bokeh's public `request` carries the
  headers the session token claims, which a crafted token can forge).
- `apply_browser_changes_at_once`: Panel waits 50 ms after a widget's first change from the browser
  (a class attribute, no parameter).
- `mark_connected`: a document as Panel sees it once its websocket is open (for `movebench`, which
  builds a page without a server).
- `TextPane`: an HTML pane that sends only its new text (Panel's update recomputes every property).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import bokeh
import panel as pn

log = logging.getLogger(__name__)

# The ranges pyproject.toml declares (lower bound included, upper excluded), and so the ones tested.
TESTED = {"panel": ("1.9.0", "1.10"), "bokeh": ("3.8.2", "3.10")}
ORIGINAL = "__l63_original__"  # where a wrapper installed by `replace_method` keeps what it replaced


def _release(version: str) -> tuple[int, ...]:
    """The release numbers of a version string: "1.9.4" -> (1, 9, 4), "1.10.0rc1" -> (1, 10, 0)."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def outside_tested(installed: dict[str, str] | None = None) -> list[str]:
    """The installed packages outside their tested range, each as "panel 1.10.0 (tested >=1.9.0,<1.10)"."""
    if installed is None:
        installed = {"panel": pn.__version__, "bokeh": bokeh.__version__}
    outside = []
    for package, (low, high) in TESTED.items():
        version = installed[package]
        if not _release(low) <= _release(version) < _release(high):
            outside.append(f"{package} {version} (tested >={low},<{high})")
    return outside


def check_versions(installed: dict[str, str] | None = None) -> bool:
    """Log one WARNING when the installed Panel or Bokeh is outside the tested range; True when inside."""
    outside = outside_tested(installed)
    if outside:
        log.warning(
            "the dashboard was not tested with %s: its uses of their private parts (dashboard/server/panel_compat.py) "
            "may fail; install the tested versions (pyproject.toml) if the page misbehaves",
            " and ".join(outside),
        )
    return not outside


def replace_method(owner: type, name: str, replacement: Callable) -> Callable:
    """Put `replacement` in place of the method `owner.name`; returns the original (idempotent).

    The original is kept on the replacement, so that installing again, or installing a second copy
    of the wrapper (a module run as a `--setup` script, then imported), never wraps a wrapper.
    """
    original = original_method(owner, name)
    setattr(replacement, ORIGINAL, original)
    setattr(owner, name, replacement)
    return original


def original_method(owner: type, name: str) -> Callable:
    """The method `owner.name` as it was before any `replace_method`."""
    current = getattr(owner, name)
    return getattr(current, ORIGINAL, current)


def session_request(session_context):
    """The HTTP request (Tornado's) that created a Bokeh session, or None (not served).

    Bokeh's public `session_context.request` is a proxy whose headers come from the session token's
    claims; only the request object it wraps (`_request`) carries the headers that really arrived.
    """
    request = getattr(session_context, "request", None)
    return getattr(request, "_request", request)


def apply_browser_changes_at_once(widget) -> None:
    """Handle `widget`'s changes from the browser at once, without Panel's 50 ms wait.

    Panel (`Syncable._debounce`, a class attribute) waits that long after a widget's first change to
    gather a burst of changes into one; a throttled slider (one change, on release) or a button has no
    burst, and the wait is added to every redraw. Panel offers no parameter for it.
    """
    widget._debounce = 0


def forget_periodic_callbacks(doc) -> None:
    """Drop the periodic callbacks Panel registered for `doc`, a page built without a session (the
    warm-up's and the page benchmark's): no event loop will ever run or stop them. Panel 1.9 keeps them
    in `state._periodic` and offers no public way to forget a document that was never served."""
    from panel import state

    state._periodic.pop(doc, None)


def mark_connected(doc) -> None:
    """Make Panel treat `doc` as a page whose websocket is open (`pn.state._connected`).

    A document built without a server (`movebench`) is never connected, and Panel then drops the
    changes made under `pn.io.hold()` (an unconnected page is sent whole when it connects): no public
    call says "connected".
    """
    pn.state._connected[doc] = True


class TextPane(pn.pane.HTML):
    """An HTML pane whose new text is sent as just that.

    Panel's own update (`_update`, private) recomputes every property of the pane (its stylesheets,
    its theme's modifiers) on each change of `object`: ~1.5 ms of a slider move's server CPU for the
    Explore tab's metrics table alone, where only the text ever changes. No public option skips that.
    """

    def _update(self, ref, model) -> None:
        model.text = self._transform_object(self.object)["object"]


check_versions()
