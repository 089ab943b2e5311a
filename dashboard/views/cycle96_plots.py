"""The Cycle tab's Lorenz-96 plots: the Hovmöller map of one method's analysis error, one variable's
series, and rmse_a per cycle for every method (`cycle96_figures.py`), patched in place.

Which method the map shows and which variable the series shows are display choices: they slice the
run already computed (`cycle_lorenz96.py`), never recompute it. Their widgets are guarded like every
other control of the page (`Refusals.guard`): a crafted value is refused with its range.
"""

from __future__ import annotations

import panel as pn
import param

from core.systems.lorenz96 import N_VARIABLES
from dashboard.data.cycle_data import label, offered_methods
from dashboard.data.cycle_lorenz96 import error_image, rmse_columns, variable_columns
from dashboard.figures.cycle96_figures import EMPTY_IMAGE, EMPTY_SERIES, hovmoller_figure, rmse_figure, variable_figure
from dashboard.figures.cycle_figures import RMSE_FLOOR
from dashboard.server.refusal import Refusals


class Lorenz96Plots(param.Parameterized):
    """The three Lorenz-96 figures and their two display choices."""

    shown_method = param.Selector(
        default="letkf",
        objects={label(name): name for name in offered_methods("lorenz96")},
        label="Map of",
        doc="Whose analysis error the space-time map shows (a method that is not ticked: the first ticked).",
    )
    variable = param.Integer(
        default=0, bounds=(0, N_VARIABLES - 1), label="Variable", doc="Which variable's series is drawn."
    )

    def __init__(self, refusals: Refusals, **params):
        super().__init__(**params)
        self.hovmoller, self.image, self.mapper = hovmoller_figure()
        self.series, self.series_sources, self.series_renderers = variable_figure()
        self.rmse, self.rmse_sources, self.burn_box, self.rmse_renderers = rmse_figure()
        self.method_select = pn.widgets.Select.from_param(self.param.shown_method, width=220)
        self.variable_slider = pn.widgets.IntSlider.from_param(self.param.variable, throttled=True, width=220)
        refusals.guard(self.method_select, self, "shown_method")
        refusals.guard(self.variable_slider, self, "variable")
        self.legend = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.truth, self.runs = None, {}
        self.param.watch(lambda *events: self.draw_map(), "shown_method")
        self.param.watch(lambda *events: self.draw_series(), "variable")
        self.layout = pn.Column(
            pn.Row(self.method_select, self.variable_slider),
            self.legend,
            pn.pane.Bokeh(self.hovmoller, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.series, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.rmse, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def map_method(self) -> str | None:
        """The method the map shows: the chosen one when it ran, else the first that ran."""
        if self.shown_method in self.runs:
            return self.shown_method
        return next(iter(self.runs), None)

    def redraw(self, truth, runs: dict) -> None:
        """A new run: every figure (the caller holds the document)."""
        self.truth, self.runs = truth, runs
        end = float(truth.t_obs[-1])
        for fig in (self.hovmoller, self.series, self.rmse):
            fig.x_range.update(start=0, end=end)
        for name, src in self.rmse_sources.items():
            src.data = rmse_columns(runs[name], RMSE_FLOOR) if name in runs else {"t": [], "rmse": []}
        for group in (self.rmse_renderers, self.series_renderers):
            for name, renderers in group.items():
                for r in renderers:
                    r.visible = name in runs
        burn_end = float(truth.t_obs[truth.burn_in - 1]) if truth.burn_in > 0 else 0.0
        self.burn_box.update(left=0, right=burn_end)
        self.draw_map()
        self.draw_series()

    def draw_map(self) -> None:
        name = self.map_method()
        if self.truth is None or name is None:
            self.image.data = dict(EMPTY_IMAGE)
            return
        columns = error_image(self.runs[name], self.truth)
        limit = columns.pop("limit")
        self.mapper.update(low=-limit, high=limit)  # symmetric: white is no error
        self.image.data = columns
        self.hovmoller.title.text = f"{label(name)}: analysis error (analysis - truth) per variable and cycle"

    def draw_series(self) -> None:
        if self.truth is None:
            return
        line, points, analyses = variable_columns(self.truth, self.runs, int(self.variable))
        self.series_sources["truth"].data = line
        self.series_sources["obs"].data = points
        for name, src in self.series_sources.items():
            if name not in ("truth", "obs"):
                src.data = analyses.get(name, dict(EMPTY_SERIES))
        self.series.title.text = f"variable {int(self.variable)}: truth (black), observations (red), analyses"
