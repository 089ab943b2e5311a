"""The Lorenz-96 Explore figures: space-time (Hovmöller) maps, one variable's time series, RMSE(t).

Built once per session, the first time a student chooses Lorenz-96 (a Lorenz-63 page never pays for
them), then patched in place on every change: each map is one Bokeh `image` whose array is replaced,
the curves are one `MultiLine` per figure over one source (a row per method), so an update is one
message per source. The maps share their ranges (zooming one zooms all three) with the time plots' x.

The truth and the analysis share one colour scale (a fixed range that holds the attractor at F = 8, so
that two settings can be compared by eye); the error has a diverging palette centred on 0 whose range
is symmetric and follows the largest error of the chosen method.
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper, MultiLine, Range1d, Scatter
from bokeh.palettes import RdBu11, Viridis256
from bokeh.plotting import figure

from dashboard.data.compute import method_colors
from dashboard.data.lorenz96_compute import LABELS_96, N_VARIABLES, Experiment96

MAP_HEIGHT = 165
CURVE_HEIGHT = 185
MIN_WIDTH = 280
STATE_RANGE = (-8.0, 13.0)  # Lorenz-96 at F = 8 stays within it (its climatology: mean 2.3, std 3.6)
ERROR_PALETTE = tuple(reversed(RdBu11))  # blue below the truth, red above, white at 0
MIN_ERROR_RANGE = 1.0
TOOLS = "xpan,xwheel_zoom,reset"
LINE_DASH = {"free_run": "dashed"}


def _map(title: str, x_range, y_range, mapper, show_x: bool):
    fig = figure(
        title=title,
        height=MAP_HEIGHT,
        min_width=MIN_WIDTH,
        sizing_mode="stretch_width",
        x_range=x_range,
        y_range=y_range,
        tools=TOOLS,
        y_axis_label="variable",
    )
    source = ColumnDataSource(
        {"image": [np.zeros((1, 1), np.float32)], "x": [0.0], "y": [-0.5], "dw": [1.0], "dh": [1.0]}
    )
    fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper)
    fig.add_layout(ColorBar(color_mapper=mapper, width=8, padding=2), "right")
    fig.xaxis.visible = show_x
    fig.toolbar.logo = None
    fig.min_border_left = 60
    fig.grid.visible = False
    return fig, source


def _curve_figure(title: str, x_range, y_label: str, **kw):
    fig = figure(
        title=title,
        height=CURVE_HEIGHT,
        min_width=MIN_WIDTH,
        sizing_mode="stretch_width",
        x_range=x_range,
        tools=TOOLS,
        y_axis_label=y_label,
        **kw,
    )
    fig.toolbar.logo = None
    fig.min_border_left = 60
    return fig


class Lorenz96Figures:
    """One session's Lorenz-96 figures and their sources."""

    def __init__(self):
        self.colors = method_colors()
        x_range = Range1d(0.0, 10.0)
        y_range = Range1d(-0.5, N_VARIABLES - 0.5)
        self.state_mapper = LinearColorMapper(palette=Viridis256, low=STATE_RANGE[0], high=STATE_RANGE[1])
        self.error_mapper = LinearColorMapper(palette=ERROR_PALETTE, low=-MIN_ERROR_RANGE, high=MIN_ERROR_RANGE)
        self.truth_map, self.truth_image = _map("truth", x_range, y_range, self.state_mapper, False)
        self.analysis_map, self.analysis_image = _map("analysis", x_range, y_range, self.state_mapper, False)
        self.error_map, self.error_image = _map("error", x_range, y_range, self.error_mapper, True)
        self.curves = ColumnDataSource({"t": [], "value": [], "rmse": [], "color": [], "dash": [], "width": []})
        self.obs = ColumnDataSource({"t": np.zeros(0), "value": np.zeros(0)})
        self.series = _curve_figure("variable 0", x_range, "value")
        self.series.add_glyph(
            self.curves, MultiLine(xs="t", ys="value", line_color="color", line_dash="dash", line_width="width")
        )
        self.series.add_glyph(
            self.obs, Scatter(x="t", y="value", marker="x", size=7, line_color="#d62728", line_width=1.5)
        )
        self.rmse = _curve_figure("RMSE(t) over the 40 variables", x_range, "RMSE", y_range=Range1d(0.0, 8.0))
        self.rmse.xaxis.axis_label = "t"
        self.rmse.add_glyph(
            self.curves, MultiLine(xs="t", ys="rmse", line_color="color", line_dash="dash", line_width="width")
        )
        self.maps = column(
            self.truth_map, self.analysis_map, self.error_map, sizing_mode="stretch_width", min_width=MIN_WIDTH
        )
        self.lines = column(self.series, self.rmse, sizing_mode="stretch_width", min_width=MIN_WIDTH)

    def update(self, experiment: Experiment96 | None, map_method: str, variable: int) -> None:
        if experiment is None:
            return
        t = experiment.t
        extent = {"x": [float(t[0])], "y": [-0.5], "dw": [float(t[-1] - t[0])], "dh": [float(N_VARIABLES)]}
        self.truth_image.data = {"image": [experiment.truth.T.astype(np.float32)], **extent}
        shown = experiment.methods.get(map_method)
        if shown is None:  # (FourDVarNet off its set-up: the maps say so rather than show a wrong model)
            blank = np.full_like(experiment.truth.T, np.nan, dtype=np.float32)
            self.analysis_image.data = {"image": [blank], **extent}
            self.error_image.data = {"image": [blank], **extent}
            self.analysis_map.title.text = f"analysis: {LABELS_96[map_method]} not run for these settings"
            self.error_map.title.text = "error: -"
        else:
            error = (shown.trajectory - experiment.truth).T.astype(np.float32)
            reach = max(float(np.max(np.abs(error))), MIN_ERROR_RANGE)
            self.error_mapper.update(low=-reach, high=reach)
            self.analysis_image.data = {"image": [shown.trajectory.T.astype(np.float32)], **extent}
            self.error_image.data = {"image": [error], **extent}
            self.analysis_map.title.text = f"analysis: {LABELS_96[map_method]}"
            self.error_map.title.text = (
                f"error (analysis - truth) of {LABELS_96[map_method]}; RMSE {shown.rmse_window:.2f}"
            )
        rows = {"t": [t], "value": [experiment.truth[:, variable]], "rmse": [np.full_like(t, np.nan)]}
        rows |= {"color": ["#000000"], "dash": ["solid"], "width": [2.0]}
        for name, output in experiment.methods.items():
            rows["t"].append(t)
            rows["value"].append(output.trajectory[:, variable])
            rows["rmse"].append(output.rmse_trace)
            rows["color"].append(self.colors[name])
            rows["dash"].append(LINE_DASH.get(name, "solid" if output.converged is not False else "dotted"))
            rows["width"].append(1.6)
        self.curves.data = rows
        seen = np.isfinite(experiment.obs[:, variable])
        self.obs.data = {"t": t[seen], "value": experiment.obs[seen, variable]}
        self.series.title.text = f"variable {variable}: truth (black), the methods, its observations (x)"
        self.truth_map.x_range.update(start=float(t[0]), end=float(t[-1]))
        top = max([float(np.nanmax(o.rmse_trace)) for o in experiment.methods.values()] + [1.0])
        self.rmse.y_range.update(start=0.0, end=1.05 * top)
