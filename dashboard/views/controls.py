"""The sidebar: every setting of the experiment, with a one-line help under each.

Panel builds each widget from its `ExperimentState` parameter (`Widget.from_param`) and keeps the
two in sync both ways: label, bounds, step and options come from the parameter, and a Selector's
`objects` (e.g. the list of trained models) drive the widget's options. Sliders are throttled: the
state, and so the solve, sees a value when the slider is released.

A value sent by the browser that cannot be used (crafted: NaN, Infinity, a string on an integer
slider, an index past the iteration caps or the presets, no observed component, a model that is not
listed, or out of the parameter's bounds) is refused before it is applied (`refusal.py`, the one
mechanism of every tab): the state is left as it was, the widget in the browser snaps back to the
state's value, and the sidebar's banner says which value was refused and why; the banner clears on
the next valid move.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import panel as pn
import param
from bokeh.models import CustomJSTickFormatter
from panel.viewable import Viewer

from dashboard.server.panel_compat import apply_browser_changes_at_once
from dashboard.server.refusal import Refusals
from dashboard.state.explore import ExperimentState

log = logging.getLogger(__name__)

SIDEBAR_WIDTH = 290
WRAPPED_TITLE = ".bk-slider-title { white-space: normal; }"
_PARAM_PACKAGE = str(Path(param.__file__).parent)


def refusal_message(exc: BaseException) -> str | None:
    """The student's message for a value a parameter refused, or None for any other error.

    A refusal is a `ValueError` raised by `param`'s own validation (bounds, objects): its message
    names the parameter and the allowed range, e.g. "... 'obs_every' must be at most 25, not 999".
    """
    if not isinstance(exc, ValueError) or exc.__traceback__ is None:
        return None
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    if not tb.tb_frame.f_code.co_filename.startswith(_PARAM_PACKAGE):
        return None
    return f"That value was refused: {exc}"


def _text(help: str = "", heading: str = "", top: int = 4):
    """One HTML pane: a help line (under the widget above it), then a heading (over the widget below).

    The margins are those of a help pane (pulled up under its widget, 4 px below) followed by a
    heading pane (`top` px above its text, none below).
    """
    parts = [f'<div class="help">{html.escape(help)}</div>'] if help else []
    if heading:
        space = f"margin-top:{4 + top}px;" if help else ""
        parts.append(f'<div style="{space}font-weight:bold">{html.escape(heading)}</div>')
    margin = (-8 if help else top, 10, 4 if help and not heading else 0, 10)
    return pn.pane.HTML("".join(parts), margin=margin, sizing_mode="stretch_width")


class ChoiceSlider:
    """A slider over a Selector's options (the iteration caps, the window lengths): one Bokeh slider.

    The browser's slider moves over the positions 0..n-1 and shows the option at its position (a JS
    formatter); the state's parameter holds the option itself. Panel's `DiscreteSlider` does the same
    with a layout, a label and a slider (three Bokeh models and ~20 ms of server CPU per page); this
    is one slider and its formatter. A position past the options (crafted in the browser) is refused
    before it reaches the slider (`Refusals.guard(..., positions=...)`).
    """

    def __init__(self, state: ExperimentState, name: str, **slider):
        parameter = state.param[name]
        self.state, self.name = state, name
        self.values = list(parameter.objects)
        self.options = {str(value): value for value in self.values}
        labels = json.dumps([str(value) for value in self.values])
        self._slider = pn.widgets.IntSlider(
            name=parameter.label,
            start=0,
            end=len(self.values) - 1,
            value=self.values.index(getattr(state, name)),
            format=CustomJSTickFormatter(code=f"const v = {labels}[tick]; return v === undefined ? String(tick) : v;"),
            stylesheets=[WRAPPED_TITLE],  # a long label wraps (as DiscreteSlider's did), not cut off
            **slider,
        )
        self._slider.param.watch(self._on_release, "value_throttled")
        state.param.watch(self._on_state, name)

    @property
    def value(self):
        return getattr(self.state, self.name)

    def _on_release(self, event) -> None:
        position = event.new
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(self.values):
            raise ValueError(f"{self.name} position {position!r} is not one of 0..{len(self.values) - 1}")
        setattr(self.state, self.name, self.values[position])

    def _on_state(self, event) -> None:
        position = self.values.index(event.new)
        with param.edit_constant(self._slider):  # (`value_throttled` is the browser's to set)
            self._slider.param.update(value=position, value_throttled=position)


class Controls(Viewer):
    """The sidebar: the problem's settings, then the methods' settings and which curves to show."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, **params):
        super().__init__(**params)
        p = self.state.param
        buttons = dict(button_type="primary", button_style="outline", sizing_mode="stretch_width")
        slider = dict(throttled=True, sizing_mode="stretch_width")
        self.preset = pn.widgets.RadioButtonGroup.from_param(p.preset, **buttons)
        self.obs_every = pn.widgets.IntSlider.from_param(p.obs_every, **slider)
        self.observed = pn.widgets.CheckButtonGroup.from_param(p.observed, **buttons)
        self.obs_noise = pn.widgets.FloatSlider.from_param(p.obs_noise, **slider)
        self.n_steps = pn.widgets.IntSlider.from_param(p.n_steps, **slider)
        self.model_rho = pn.widgets.FloatSlider.from_param(p.model_rho, **slider)
        self.model_noise = pn.widgets.FloatSlider.from_param(p.model_noise, **slider)
        self.max_steps = ChoiceSlider(self.state, "max_steps", sizing_mode="stretch_width")
        self.window = ChoiceSlider(self.state, "window", sizing_mode="stretch_width")
        self.seed = pn.widgets.IntSlider.from_param(p.seed, **slider)
        # A number box for the seed: a teacher reads "seed 1234" out to the class.
        self.seed_box = pn.widgets.IntInput.from_param(
            p.seed, name="Problem seed (type it)", sizing_mode="stretch_width", description=None
        )
        self.new_problem = pn.widgets.Button(
            label="New problem (random seed)", button_type="primary", sizing_mode="stretch_width"
        )
        self.new_problem.on_click(lambda event: self.state.new_problem())
        # description=None: the doc is the help line under the widget already, not also a tooltip.
        self.model = pn.widgets.Select.from_param(p.model, sizing_mode="stretch_width", description=None)
        self.shown = pn.widgets.CheckBoxGroup.from_param(p.shown, inline=False)
        # Lorenz-96 (issue 17): the system's choice, then its own settings, shown in place of Lorenz-63's.
        self.system = pn.widgets.RadioButtonGroup.from_param(p.system, **buttons)
        self.obs_every_96 = pn.widgets.IntSlider.from_param(p.obs_every_96, **slider)
        self.observed_share = pn.widgets.FloatSlider.from_param(p.observed_share, **slider)
        self.noise_variance = pn.widgets.FloatSlider.from_param(p.noise_variance, **slider)
        self.window_96 = ChoiceSlider(self.state, "window_96", sizing_mode="stretch_width")
        self.model_forcing = pn.widgets.FloatSlider.from_param(p.model_forcing, **slider)
        self.map_method = pn.widgets.Select.from_param(p.map_method, sizing_mode="stretch_width", description=None)
        self.variable = pn.widgets.IntSlider.from_param(p.variable, **slider)
        self._groups: dict[str, list] = {}
        self._layout: pn.Column | None = None
        # The banner for refused values joins the layout only when a value is first refused.
        self.refusals = Refusals(place=lambda banner: self._layout is not None and self._layout.insert(0, banner))
        self.refused = self.refusals.banner
        at_least_one = "not allowed: at least one component must be observed"
        choices = {
            "max_steps": "the caps ",
            "window": "the lengths ",
            "window_96": "the lengths ",
        }  # what a ChoiceSlider's options are
        for name, widget in self.setting_widgets().items():
            if name in choices:
                self.refusals.guard(widget, self.state, name, positions=getattr(self, name).values, what=choices[name])
            else:
                self.refusals.guard(widget, self.state, name, required=at_least_one * (name == "observed"))
            # Panel waits 50 ms after a widget's first change from the browser before it handles it
            # (to gather a burst of changes into one): with throttled sliders (one change, on release)
            # and buttons that is 50 ms added to every redraw for nothing.
            apply_browser_changes_at_once(widget)
        self.refusals.guard(self.seed_box, self.state, "seed")
        apply_browser_changes_at_once(self.seed_box)
        self.state.param.watch(self._on_valid, list(self.state.setting_names()))
        self.state.param.watch(self._on_system, "system")

    def setting_widgets(self) -> dict:
        """Each setting of the state -> the widget the browser changes (a ChoiceSlider's slider)."""
        widgets = {name: getattr(self, name) for name in self.state.setting_names()}
        return {name: w._slider if isinstance(w, ChoiceSlider) else w for name, w in widgets.items()}

    def _on_valid(self, *events) -> None:
        if self.refused.visible:
            self.refused.param.update(object="", visible=False)

    def _on_system(self, event=None) -> None:
        """Show the chosen system's settings only (the others keep their values, for a switch back)."""
        for system, group in self._groups.items():
            for column in group:
                column.visible = system == self.state.system

    def __panel__(self):
        if self._layout is None:
            self._layout = self._build_layout()
        return self._layout

    def _build_layout(self) -> pn.Column:
        # Each help line and the heading after it are one HTML pane (a pane is ~1 ms of server CPU
        # and one Bokeh model per page); the banner for refused values joins the layout only
        # when a value is first refused (`refuse`).
        p = self.state.param
        group = dict(sizing_mode="stretch_width", margin=0)
        lorenz63_problem = pn.Column(
            _text(heading=p.preset.label),
            self.preset,
            _text(p.preset.doc),
            self.obs_every,
            _text(p.obs_every.doc, heading=p.observed.label),
            self.observed,
            _text(p.observed.doc),
            self.obs_noise,
            _text(p.obs_noise.doc),
            self.window._slider,
            _text(p.window.doc),
            **group,
        )
        lorenz63_methods = pn.Column(
            self.model_rho,
            _text(p.model_rho.doc),
            self.model_noise,
            _text(p.model_noise.doc, heading="Methods", top=8),
            self.max_steps._slider,
            _text(p.max_steps.doc),
            self.n_steps,
            _text(p.n_steps.doc),
            self.model,
            _text(p.model.doc, heading=p.shown.label, top=8),
            self.shown,
            **group,
        )
        lorenz96_problem = pn.Column(
            self.obs_every_96,
            _text(p.obs_every_96.doc),
            self.observed_share,
            _text(p.observed_share.doc),
            self.noise_variance,
            _text(p.noise_variance.doc),
            self.window_96._slider,
            _text(p.window_96.doc),
            **group,
        )
        lorenz96_methods = pn.Column(
            self.model_forcing,
            _text(p.model_forcing.doc, heading="Shown", top=8),
            self.map_method,
            _text(p.map_method.doc),
            self.variable,
            _text(p.variable.doc),
            **group,
        )
        self._groups = {
            "lorenz63": [lorenz63_problem, lorenz63_methods],
            "lorenz96": [lorenz96_problem, lorenz96_methods],
        }
        self._on_system()
        return pn.Column(
            _text(heading=p.system.label),
            self.system,
            _text(p.system.doc),
            lorenz63_problem,
            lorenz96_problem,
            self.seed,
            self.seed_box,
            self.new_problem,
            _text(p.seed.doc, heading="Model error", top=8),
            lorenz63_methods,
            lorenz96_methods,
            width=SIDEBAR_WIDTH,
            styles={"background": "#f7f7f9"},
            css_classes=["controls"],
        )
