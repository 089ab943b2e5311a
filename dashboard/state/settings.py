"""The settings base of every tab's state: each setting's name, bounds and label are written once, here.

No Panel here. A state (`state.ExperimentState`, `cycle_state.CycleState`) declares its settings as
bounded, labelled `param` parameters; everything that is computed from them (the solved experiment,
the cycle's runs) is declared with `precedence=RESULT`. From those declarations alone:

- `setting_names()`: the settings, in their declaration order. The watchers that recompute, the
  page's URL (`app.URL_PARAMETERS`: query names are these names, in this order), the teacher's
  broadcast and the Reset button all read this list.
- `update(**values)`: several settings at once, each checked against its parameter before any is
  changed (a refused value leaves the state as it was, with one message naming the parameter and
  its range), then one recompute.
- `slider_specs(StateClass)`: each numeric setting's name, label, bounds and step, as the sidebar's
  sliders show them (`Widget.from_param`) and as the load test moves them (`loadtest.SLIDERS`).
"""

from __future__ import annotations

import logging
from numbers import Real
from typing import ClassVar, NamedTuple

import param

from core._validate import check_choice, check_range

log = logging.getLogger(__name__)

RESULT = -1  # the precedence of a parameter that is computed from the settings, not set by a student


class SliderSpec(NamedTuple):
    """A numeric setting as a slider shows it."""

    name: str
    label: str
    low: float
    high: float
    step: float
    integer: bool


def check_setting(parameter: param.Parameter, name: str, value) -> None:
    """Raise `ValueError` naming `name` and what it allows unless `parameter` can hold `value`.

    Numbers: finite, within the parameter's bounds (whole for an Integer); a Selector: one of its
    objects; a ListSelector: a list of distinct objects. Other parameters are left to `param`.
    """
    if isinstance(parameter, param.Number):
        low, high = parameter.bounds or (None, None)
        integer = isinstance(parameter, param.Integer)
        if isinstance(value, bool) or not isinstance(value, Real):
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"{name} must be {kind} between {low} and {high}; got {value!r}")
        check_range(name, value, low, high, integer=integer)
    elif isinstance(parameter, param.ListSelector):
        offered = list(parameter.get_range().values())
        if not isinstance(value, (list, tuple)) or len(set(map(repr, value))) != len(value):
            raise ValueError(f"{name} must be a list of distinct options among {offered!r}; got {value!r}")
        for item in value:
            check_choice(name, item, offered)
    elif isinstance(parameter, param.Selector):
        check_choice(name, value, list(parameter.get_range().values()))


class SettingsState(param.Parameterized):
    """Bounded, labelled settings and what they give, recomputed on every change.

    A subclass declares its settings (parameters with a label and bounds or objects) and its results
    (`precedence=RESULT`), and defines `derive()`, which recomputes the results from the settings
    and raises `ValueError` for settings that cannot be used, and `show()`, which puts its result on
    the result parameters. `FAILED` is what the student reads
    when `derive()` fails in any other way (`{kind}`: the exception's class). Its `__init__` calls
    `watch_settings()` once the initial values are set (so that building the state recomputes once).
    """

    __abstract = True

    error = param.String(default="", precedence=RESULT, doc="A friendly message when the last update failed.")

    FAILED: ClassVar[str] = "Something went wrong ({kind}); try other settings."
    latest = None  # what the last recompute returned (None when it failed)

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The settings, in declaration order: every parameter but `name` and the results."""
        return tuple(
            name
            for name, parameter in cls.param.objects("existing").items()
            if name != "name" and (parameter.precedence is None or parameter.precedence >= 0)
        )

    def watch_settings(self) -> None:
        """Recompute on every change of a setting (one recompute for a batch of changes)."""
        self.param.watch(self._on_setting, list(self.setting_names()))

    def _on_setting(self, *events) -> None:
        self.recompute()

    def check(self, values: dict) -> None:
        """Raise `ValueError` for the first of `values` (setting name -> value) that cannot be used."""
        names = self.setting_names()
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"{name!r} is not a setting; the settings are {', '.join(names)}")
            check_setting(self.param[name], name, value)

    def update(self, **values):
        """Set `values` (setting name -> value) at once and recompute; with none, recompute.

        Every value is checked before any is set: a refused one raises `ValueError` naming the
        setting and its range, and the state is left as it was (nothing is recomputed). Returns what
        `derive()` returned (None when it failed: `error` says why, the last results are kept).
        """
        if not values:
            return self.recompute()
        self.check(values)
        before = {name: getattr(self, name) for name in values}
        try:
            self.param.update(**values)  # (the watchers recompute once for the batch)
        except Exception:
            with param.discard_events(self):  # param refused one after setting others: undo them quietly
                self.param.update(**before)
            raise
        return self.latest

    def recompute(self):
        """Recompute the results for the current settings. A failure keeps the last results and sets `error`."""
        self.latest = None
        try:
            result = self.derive()
        except ValueError as exc:
            self.error = f"These settings cannot be used: {exc}"
            return None
        except Exception as exc:  # noqa: BLE001 - a student never sees a traceback
            log.exception("%s: recomputing failed", type(self).__name__)
            self.error = self.FAILED.format(kind=exc.__class__.__name__)
            return None
        self.error = ""
        self.show(result)
        self.latest = result
        return result

    def derive(self):
        """The results for the current settings; `ValueError` when the settings cannot be used."""
        raise NotImplementedError

    def show(self, result) -> None:
        """Put `derive()`'s result on the state's result parameters (after `error` is cleared)."""
        raise NotImplementedError


def slider_specs(state_class: type[SettingsState]) -> dict[str, SliderSpec]:
    """Each numeric, bounded setting of `state_class` (name -> spec), as its slider shows it."""
    specs = {}
    for name in state_class.setting_names():
        parameter = state_class.param[name]
        if not isinstance(parameter, param.Number) or parameter.bounds is None:
            continue
        integer = isinstance(parameter, param.Integer)
        low, high = parameter.bounds
        step = parameter.step if parameter.step is not None else 1  # (an Integer's slider moves by 1)
        specs[name] = SliderSpec(name, parameter.label, low, high, step, integer)
    return specs


def model_noise_setting() -> param.Number:
    """The truth's model noise Q, as every tab that has model error offers it (one definition, a new
    parameter object for each state class)."""
    return param.Number(
        default=0.0,
        bounds=(0.0, 5.0),
        step=0.1,
        label="The truth's model noise Q",
        doc="Random kicks the truth gets, a variance per time unit, that no method's model knows about (0: none).",
    )
