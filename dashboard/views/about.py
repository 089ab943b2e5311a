"""The About tab: `about.md`, a Jinja template filled with the figures and labels the page uses.

The text quotes the assimilation window and the forecast horizon of the problems the page solves,
and the sidebar's labels (from `ExperimentState`'s parameters), so it cannot drift from them.
Models that could not be loaded are listed in a note at the end.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import jinja2
import panel as pn
import param
from panel.viewable import Viewer

import core
from dashboard.state.explore import ExperimentState
from dashboard.training.models import registry

TEMPLATE = Path(__file__).with_name("about.md")


def _problem_times() -> tuple[float, float]:
    """(window end, horizon) in model time for `core.generate_problem`'s defaults, which the page uses."""
    defaults = {k: v.default for k, v in inspect.signature(core.generate_problem).parameters.items()}
    return defaults["T_assim"] * defaults["dt"], defaults["T_total"] * defaults["dt"]


def about_markdown(state: ExperimentState, skipped=()) -> str:
    """The About text for `state`'s labels and experiment; `skipped`: notes on unreadable models.

    Raises:
        jinja2.UndefinedError: the template names a value that is not given here.
    """
    window_end, horizon = _problem_times()
    experiment = state.experiment
    if experiment is not None and hasattr(experiment, "window_end"):  # (a Lorenz-96 window has no forecast)
        window_end, horizon = experiment.window_end, float(experiment.t[-1])
    template = jinja2.Template(TEMPLATE.read_text(encoding="utf-8"), undefined=jinja2.StrictUndefined)
    return template.render(
        window_end=f"{window_end:g}",
        horizon=f"{horizon:g}",
        label={name: state.param[name].label for name in ExperimentState.setting_names()},
        skipped=list(skipped),
    )


class AboutView(Viewer):
    """The About text, with KaTeX for the cost function."""

    state = param.ClassSelector(class_=ExperimentState)

    def __panel__(self):
        return pn.pane.Markdown(
            about_markdown(self.state, registry.skipped),
            sizing_mode="stretch_width",
            max_width=980,
            renderer="markdown-it",
            disable_math=False,
        )
