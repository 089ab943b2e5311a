"""The sidebar: every setting of the experiment, with a one-line help under each.

Panel builds each widget from its `ExperimentState` parameter (`Widget.from_param`) and keeps the
two in sync both ways: label, bounds, step and options come from the parameter, and a Selector's
`objects` (e.g. the list of trained models) drive the widget's options. Sliders are throttled: the
state, and so the solve, sees a value when the slider is released. A value the parameter refuses
(out of its bounds, e.g. crafted in the browser) raises `ValueError` in Panel's link and leaves the
state as it was; Panel then resets the widget to the state's value, and the app's exception handler
tells the student (`refusal_message`).
"""

from __future__ import annotations

import html
from pathlib import Path

import panel as pn
import param
from panel.viewable import Viewer

from .state import ExperimentState

SIDEBAR_WIDTH = 290
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


def _help(text: str):
    return pn.pane.HTML(
        f'<div class="help">{html.escape(text)}</div>', margin=(-8, 10, 4, 10), sizing_mode="stretch_width"
    )


def _heading(text: str, top: int = 4):
    return pn.pane.HTML(f"<b>{html.escape(text)}</b>", margin=(top, 10, 0, 10))


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
        self.max_steps = pn.widgets.DiscreteSlider.from_param(p.max_steps, **slider)
        self.seed = pn.widgets.IntSlider.from_param(p.seed, **slider)
        self.new_problem = pn.widgets.Button(
            label="New problem (random seed)", button_type="primary", sizing_mode="stretch_width"
        )
        self.new_problem.on_click(lambda event: self.state.new_problem())
        # description=None: the doc is the help line under the widget already, not also a tooltip.
        self.model = pn.widgets.Select.from_param(p.model, sizing_mode="stretch_width", description=None)
        self.shown = pn.widgets.CheckBoxGroup.from_param(p.shown, inline=False)

    def __panel__(self):
        p = self.state.param
        return pn.Column(
            _heading(p.preset.label),
            self.preset,
            _help(p.preset.doc),
            self.obs_every,
            _help(p.obs_every.doc),
            _heading(p.observed.label),
            self.observed,
            _help(p.observed.doc),
            self.obs_noise,
            _help(p.obs_noise.doc),
            self.seed,
            self.new_problem,
            _help(p.seed.doc),
            _heading("Methods", top=8),
            self.max_steps,
            _help(p.max_steps.doc),
            self.n_steps,
            _help(p.n_steps.doc),
            self.model,
            _help(p.model.doc),
            _heading(p.shown.label, top=8),
            self.shown,
            width=SIDEBAR_WIDTH,
            styles={"background": "#f7f7f9"},
            css_classes=["controls"],
        )
