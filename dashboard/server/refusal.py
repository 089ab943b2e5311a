"""Values from the browser that a page cannot use: refused before anything applies them, on every tab.

A crafted browser (or a stale one) can send any value through the page's Bokeh document: NaN,
Infinity, 1e308 or a string on a slider, an index past a button group's options, an empty or unknown
list of checked boxes, a model that is not listed, a name with a path in it. Each widget guarded
here (`Refusals.guard`) checks every value its Bokeh model receives from the browser against the
parameter it drives (`check`): its type, its bounds or options, and any rule of its own. A value
that fails is not applied at all (so nothing downstream runs or fails, and no traceback is
logged): the teacher's terminal gets one WARNING line, the page's banner names the value and the
rule, and the browser's widget is sent the value in use again. The banner clears on the next
value the same page accepts.

Why a class-level patch of `bokeh.protocol.messages.patch_doc.patch_doc.apply_to_document` (`install`,
through `panel_compat.replace_method`):
it is the one place where a browser's change (a PATCH-DOC message) exists before it is applied.
Neither Bokeh nor Panel offers a hook there: `Document.on_change` and `Model.on_change` see a change
after it is applied, and a value Bokeh's own property refuses (a string on a slider) never reaches
them (Bokeh logs a traceback, and the browser keeps the string); Panel then validates inside its
private event processing, logs a traceback, and never resets the browser's copy. The patch wraps a
public method, changes nothing for models that are not guarded, and refuses quietly (one log line)
any other change Bokeh itself cannot apply. The guarded Bokeh models are found by a CSS class
(`css_classes`, a public parameter that Panel passes on to the model).
"""

from __future__ import annotations

import html
import itertools
import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from numbers import Real

import panel as pn
import param
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.serialization import Deserializer, Serialized
from bokeh.document.callbacks import invoke_with_curdoc
from bokeh.protocol.messages.patch_doc import patch_doc
from panel.io.state import set_curdoc

from dashboard.server.panel_compat import replace_method

log = logging.getLogger(__name__)

BANNER_START = "That value was refused:"
CLASS_PREFIX = "l63-refusable-"
VALUE_ATTRS = ("value", "value_throttled", "active")  # what a browser sends for a widget's value
SAME_REFUSAL_S = 1.0  # the same refused value within this long is one refusal (said once)

_ids = itertools.count()
_guards: weakref.WeakValueDictionary[str, Guard] = weakref.WeakValueDictionary()  # CSS class -> guard


class Refused(ValueError):
    """A browser's value that cannot be used; the message is the rule, in words for a student."""


def _short(value) -> str:
    text = f"“{value}”" if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value, integer: bool, bounds: tuple | None) -> float | int:
    lo, hi = bounds or (None, None)
    allowed = f"at least {lo} and at most {hi}" if lo is not None and hi is not None else "a number"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise Refused(f"not a number: it must be {allowed}")
    if not math.isfinite(value):
        raise Refused(f"not a finite number: it must be {allowed}")
    if integer and value != int(value):
        raise Refused(f"not a whole number: it must be {allowed}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise Refused(f"out of range: it must be {allowed}")
    return int(value) if integer else value


def _options_text(options: Sequence, what: str = "") -> str:
    shown = [str(o) for o in options]
    if len(shown) <= 12 and sum(map(len, shown)) <= 160:
        return f"not one of {what}{', '.join(shown)}"
    return f"not one of {what or 'the listed options'}".strip()


def check(parameter: param.Parameter, value, options: Sequence | None = None):
    """`value` as `parameter` would hold it, or `Refused` with the rule it breaks.

    `options`: the values a Selector or ListSelector offers on the page (default: its objects).
    """
    if isinstance(parameter, param.Number):
        return _number(value, isinstance(parameter, param.Integer), parameter.bounds)
    if isinstance(parameter, param.ListSelector):
        offered = list(options if options is not None else parameter.get_range().values())
        if not isinstance(value, list) or any(v not in offered for v in value) or len(set(value)) != len(value):
            raise Refused(f"not among the listed options ({', '.join(map(str, offered))})")
        return value
    if isinstance(parameter, param.Selector):
        offered = list(options if options is not None else parameter.get_range().values())
        if value not in offered:
            raise Refused(_options_text(offered))
        return value
    if isinstance(parameter, param.String):
        if not isinstance(value, str):
            raise Refused("not text")
        return value
    raise Refused("not a value this control takes")


class Guard:
    """One guarded widget: from its Bokeh model's value to the parameter's, checked; and back."""

    def __init__(self, refusals: Refusals, widget, owner: param.Parameterized, name: str, **rule):
        self.refusals, self.widget, self.owner, self.name = refusals, widget, owner, name
        self.positions: Sequence | None = rule.get("positions")  # a slider over these options' positions
        self.bounds: Callable[[], tuple] | None = rule.get("bounds")  # bounds other than the parameter's
        self.rule: Callable | None = rule.get("rule")  # a check of its own, raising ValueError
        self.rule_words = rule.get("rule_words", "")  # that check's rule, in words ("not allowed: ...")
        self.required = rule.get("required", "")  # a ListSelector's "at least one ..." rule, in words
        self.what = rule.get("what", "")  # what the positions' options are called ("the caps ")
        self.parameter = owner.param[name]
        self.label = rule.get("label") or self.parameter.label or name
        self.css_class = f"{CLASS_PREFIX}{next(_ids)}"
        widget.css_classes = [*widget.css_classes, self.css_class]
        _guards[self.css_class] = self

    def value_of(self, attr: str, sent):
        """The parameter's value for a browser's `attr` = `sent` (`Refused` when it cannot be one)."""
        widget, parameter = self.widget, self.parameter
        if attr == "active":  # a button group: an index (radio) or a list of indices (checkboxes)
            values = list(widget.values)
            if isinstance(parameter, param.ListSelector):
                if not isinstance(sent, list) or not all(_index(i, len(values)) for i in sent):
                    raise Refused(_options_text(widget.labels, "the options "))
                if len(set(sent)) != len(sent):
                    raise Refused("an option checked twice")
                chosen = [values[i] for i in sent]
                if self.required and not chosen:
                    raise Refused(self.required)
                return check(parameter, chosen, values)
            if not _index(sent, len(values)):
                raise Refused(_options_text(widget.labels))
            return check(parameter, values[sent], values)
        if self.positions is not None:  # a slider over positions (ChoiceSlider)
            if isinstance(sent, bool) or not isinstance(sent, Real) or not _index(sent, len(self.positions)):
                raise Refused(_options_text(self.positions, self.what))
            return check(parameter, self.positions[int(sent)])
        if isinstance(parameter, param.Selector) and not isinstance(parameter, param.ListSelector):  # a Select
            values = {str(v): v for v in widget.values}
            if not isinstance(sent, str) or sent not in values:
                raise Refused(_options_text(widget.labels))
            return check(parameter, values[sent], list(values.values()))
        if self.bounds is not None:
            return _number(sent, isinstance(parameter, param.Integer), self.bounds())
        value = check(parameter, sent)
        if self.rule is not None:
            try:
                self.rule(value)
            except ValueError as exc:
                raise Refused(self.rule_words or str(exc)) from None
        return value

    def shown(self, attr: str, sent) -> str:
        """The refused value as the student saw it (an option's label, not its index)."""
        if self.positions is not None and _index(sent, len(self.positions)):
            return str(self.positions[int(sent)])
        if self.positions is not None:
            return f"position {_short(sent)}"
        return _short(sent)

    def current(self) -> str:
        """The value in use, as the widget shows it (options by their labels)."""
        value = getattr(self.owner, self.name)
        labels = {}
        if hasattr(self.widget, "values") and hasattr(self.widget, "labels"):
            labels = {repr(v): label for v, label in zip(self.widget.values, self.widget.labels, strict=False)}
        if isinstance(value, list):
            return ", ".join(str(labels.get(repr(v), v)) for v in value) or "none"
        return str(labels.get(repr(value), value))


def _index(i, n: int) -> bool:
    return not isinstance(i, bool) and isinstance(i, Real) and math.isfinite(i) and i == int(i) and 0 <= i < n


class Refusals:
    """One view's refusals: its banner, and the widgets whose browser values it checks."""

    def __init__(self, place: Callable[[pn.pane.Alert], None] | None = None, **banner):
        self.banner = pn.pane.Alert(
            "", alert_type="warning", visible=False, **{"margin": (4, 10), "sizing_mode": "stretch_width", **banner}
        )
        self.place = place  # puts the banner on the page when it is first needed (None: it is there)
        self.guards: list[Guard] = []
        self._last, self._last_at = "", 0.0  # the last refusal said, and when

    def guard(self, widget, owner: param.Parameterized, name: str, **rule):
        """Check every browser value of `widget` against `owner`'s parameter `name` (see `Guard`)."""
        install()
        self.guards.append(Guard(self, widget, owner, name, **rule))
        return widget

    def refuse(self, guard: Guard, attr: str, sent, why: str) -> str:
        """Say which value was refused and why (banner and one log line)."""
        message = f"{BANNER_START} {guard.label} {guard.shown(attr, sent)} is {why}. It is back at {guard.current()}."
        now = time.monotonic()
        if self._last == message and now - self._last_at < SAME_REFUSAL_S:
            return message  # the same value again as another property (a slider's value, then value_throttled)
        self._last, self._last_at = message, now
        log.warning("refused a value from the browser: %s", message)
        if self.place is not None:
            self.place(self.banner)
            self.place = None
        self.banner.param.update(object=html.escape(message), visible=True)
        return message

    def clear(self) -> None:
        if self.banner.visible:
            self.banner.param.update(object="", visible=False)


def _guard_of(model) -> Guard | None:
    for css_class in getattr(model, "css_classes", None) or ():
        if css_class.startswith(CLASS_PREFIX):
            return _guards.get(css_class)
    return None


def screen(doc, events: list) -> tuple[list, list, set]:
    """The patch's events split into (kept, refused), refused = (guard, model, attr, sent, why), and
    the guards of the kept values."""
    kept, refused, accepted = [], [], set()
    for event in events:
        if not isinstance(event, dict) or event.get("kind") != "ModelChanged" or event.get("attr") not in VALUE_ATTRS:
            kept.append(event)
            continue
        model = doc.get_model_by_id((event.get("model") or {}).get("id"))
        guard = _guard_of(model) if model is not None else None
        if guard is None:
            kept.append(event)
            continue
        try:
            sent = Deserializer().deserialize(event.get("new"))
        except Exception:  # noqa: BLE001 - a value that does not even decode
            sent = event.get("new")
        try:
            guard.value_of(event["attr"], sent)
        except Exception as exc:  # noqa: BLE001 - a check that fails on an odd value refuses it too
            why = str(exc) if isinstance(exc, Refused) else "not a usable value"
            refused.append((guard, model, event["attr"], sent, why))
            continue
        kept.append(event)
        accepted.add(guard)
    return kept, refused, accepted


def apply_browser_patch(message, doc, setter=None) -> None:
    """Apply a browser's PATCH-DOC to `doc`, less the values a guarded widget refuses (see the module)."""
    content = message.content
    events = content.get("events") if isinstance(content, dict) else None
    kept, refused, accepted = screen(doc, events) if isinstance(events, list) else (events, [], set())
    unusable = _apply(doc, content, kept, message.buffers, setter) if kept else []
    for guard in accepted:
        if not any(guard.refusals is r[0].refusals for r in refused):
            guard.refusals.clear()
    if refused or unusable:
        _later(doc, lambda: _after_refusals(doc, refused, unusable))


def _apply(doc, content: dict, events: list, buffers, setter) -> list:
    """Apply `events`; returns the (model, attr) of those Bokeh itself refused, each logged in one line
    (a value its property cannot hold, on a model that is not guarded: a string in a selection)."""

    def apply(some: list) -> None:
        patch = Serialized({**content, "events": some}, buffers)
        invoke_with_curdoc(doc, lambda: doc.apply_json_patch(patch, setter=setter))

    try:
        apply(events)
        return []
    except ValueError:
        pass
    unusable = []
    for event in events:  # one at a time: the others still apply
        try:
            apply([event])
        except ValueError as exc:
            log.warning("refused a change from the browser: %s", str(exc).splitlines()[0][:300])
            model = doc.get_model_by_id((event.get("model") or {}).get("id")) if isinstance(event, dict) else None
            if model is not None and isinstance(event.get("attr"), str):
                unusable.append((model, event["attr"]))
    return unusable


def _after_refusals(doc, refused: list, unusable: list = ()) -> None:
    with set_curdoc(doc):
        for guard, _model, attr, sent, why in refused:
            guard.refusals.refuse(guard, attr, sent, why)
        for model, attr in [(model, attr) for _, model, attr, *_ in refused] + list(unusable):
            _send_back(model, attr)


def _send_back(model, attr: str) -> None:
    """Send the browser the server's value of `model.attr` (its copy shows a refused value)."""
    try:
        current = getattr(model, attr)
    except (AttributeError, UnsetValueError):  # set only by the browser (an input's value_throttled)
        return
    model.trigger(attr, current, current)


def _later(doc, callback) -> None:
    """After this message (so that the browser is sent the change): on the session's next tick."""
    if getattr(doc, "session_context", None) is not None:
        doc.add_next_tick_callback(callback)
    else:  # a document without a session (tests): at once
        callback()


def _guarded_apply(self, doc, setter=None):
    apply_browser_patch(self, doc, setter)


def install() -> None:
    """Screen every browser patch of this process (idempotent)."""
    replace_method(patch_doc, "apply_to_document", _guarded_apply)
