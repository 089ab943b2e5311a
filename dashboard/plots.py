"""The Explore figures, drawn once per session and then patched in place on every change.

The time plots and the butterfly are Bokeh figures over one `ColumnDataSource` per method (columns
t, x, y, z, rmse): an update replaces those sources' data under `pn.io.hold()` (one websocket message),
hides or shows renderers, and never rebuilds a figure. The four time plots share one x range, so
zooming one zooms them all. (A HoloViews `DynamicMap` per plot did the same at ~200 ms of Python per
update for these ~30 glyphs on the classroom server, over the 200 ms budget from slider release to
redrawn plots; writing the sources directly costs a few ms.) The training loss curve, a single
element, stays a HoloViews `DynamicMap` fed by a `Pipe`.
"""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import BoxAnnotation, ColumnDataSource, Range1d, Segment, Span
from bokeh.plotting import figure

from .compute import RMSE_FLOOR, Experiment, drawn_items, method_colors, solved_methods

WIDTH = 760
TIME_HEIGHT = 165
WINDOW_FILL = "#f2d98a"
LINE_STYLE = {
    "truth": dict(line_width=2.0),
    "free_run": dict(line_width=1.5, line_dash="dashed"),
    "strong_4dvar": dict(line_width=1.8),
    "fourdvarnet": dict(line_width=1.8),
}
EMPTY_T = np.zeros(0)
YLIM = {"x": (-25.0, 25.0), "y": (-32.0, 32.0), "z": (-5.0, 55.0)}  # the attractor's extent
TOOLS = "pan,xwheel_zoom,box_zoom,reset,save"


def loss_plot(data):
    """The training loss against the step, on a log axis."""
    steps, losses = data
    losses = np.maximum(np.asarray(losses, dtype=np.float64), 1e-8)
    return hv.Curve((np.asarray(steps), losses), "step", hv.Dimension("loss", label="training loss")).opts(
        color=method_colors()["fourdvarnet"],
        line_width=2,
        logy=True,
        width=640,
        height=260,
        framewise=True,
        title="training loss (normalised MSE against the truth window)",
        default_tools=["pan", "wheel_zoom", "box_zoom", "reset", "save"],
        tools=[],
        toolbar="above",
    )


COLUMNS = ("x", "y", "z", "rmse")


def _empty_lines(methods):
    data = {"t": EMPTY_T}
    for m in ("truth", *methods):
        data.update({f"{m}_{c}": EMPTY_T for c in COLUMNS})
    return data


class ExploreFigures:
    """One session's Explore figures and the data sources they draw from."""

    def __init__(self):
        self.methods = solved_methods()  # every method a student may tick, drawn or hidden
        self.colors = method_colors()
        # Few sources, so that an update is few messages and few redraws: every line reads one
        # source (columns t, <method>_x, ..., <method>_rmse), the observations another.
        self.lines = ColumnDataSource(_empty_lines(self.methods))
        self.obs = ColumnDataSource({"t": EMPTY_T, "x": EMPTY_T, "y": EMPTY_T, "z": EMPTY_T})
        self.marks = ColumnDataSource({"t": [], "y0": [], "y1": [], "color": []})
        self.renderers: dict[str, list] = {m: [] for m in drawn_items()}
        x_range = Range1d(0.0, 10.0, bounds=(0.0, 10.0))
        self.figures = []
        for c, name in enumerate("xyz"):
            fig = self._time_figure(x_range, name, Range1d(*YLIM[name]), TIME_HEIGHT)
            if c == 0:
                fig.title.text = "x(t), y(t), z(t)   (shaded: the assimilation window and its observations)"
            if c == 2:
                fig.xaxis.axis_label = "time t"
            self._lines(fig, name)
            self.renderers["observations"].append(
                fig.scatter(
                    "t", name, source=self.obs, marker="x", size=9, line_width=2, color=self.colors["observations"]
                )
            )
            self.figures.append(fig)
        rmse = self._time_figure(x_range, "RMSE(t)", Range1d(RMSE_FLOOR, 100.0), 200, y_axis_type="log")
        rmse.title.text = (
            "error against the truth (log); dotted: half the attractor's size; dash-dot: predictability time"
        )
        rmse.xaxis.axis_label = "time t"
        self._lines(rmse, "rmse", methods=self.methods)
        self.threshold = Span(location=4.2, dimension="width", line_color="#444444", line_dash="dotted", line_width=1.5)
        rmse.add_layout(self.threshold)
        rmse.add_glyph(
            self.marks,
            Segment(x0="t", x1="t", y0="y0", y1="y1", line_color="color", line_dash="dashdot", line_width=1.3),
        )
        self.figures.append(rmse)
        self.grid = gridplot([[f] for f in self.figures], merge_tools=True, toolbar_location="above")
        self.phase = figure(
            width=420,
            height=420,
            tools=TOOLS,
            toolbar_location="above",
            x_range=Range1d(-22.0, 22.0),
            y_range=Range1d(-2.0, 52.0),
            title="the x-z plane (the butterfly), whole run",
            x_axis_label="x",
            y_axis_label="z",
        )
        for m in ("truth", *self.methods):
            style = dict(LINE_STYLE.get(m, {}))
            if m == "truth":
                style.update(line_width=2.2, line_alpha=0.75)
            self.renderers[m].append(
                self.phase.line(f"{m}_x", f"{m}_z", source=self.lines, color=self.colors[m], **style)
            )

    @staticmethod
    def _time_figure(x_range, label, y_range, height, **kw):
        fig = figure(
            width=WIDTH, height=height, x_range=x_range, y_range=y_range, tools=TOOLS, y_axis_label=label, **kw
        )
        fig.add_layout(
            BoxAnnotation(left=0.0, right=0.5, fill_color=WINDOW_FILL, fill_alpha=0.45, line_alpha=0, level="underlay")
        )
        fig.min_border_left = 60
        return fig

    def _lines(self, fig, column, methods=None):
        for m in ("truth", *self.methods) if methods is None else methods:
            self.renderers[m].append(
                fig.line("t", f"{m}_{column}", source=self.lines, color=self.colors[m], **LINE_STYLE.get(m, {}))
            )

    def update(self, experiment: Experiment | None, shown) -> None:
        """Write the experiment into the sources and show the chosen methods (call under hold)."""
        if experiment is not None:
            t = experiment.t
            lines = {"t": t}
            for c, name in enumerate("xyz"):
                lines[f"truth_{name}"] = experiment.truth[:, c]
            lines["truth_rmse"] = np.zeros_like(t)
            marks = {"t": [], "y0": [], "y1": [], "color": []}
            unsolved = np.full_like(t, np.nan)
            for m in self.methods:
                out = experiment.methods.get(m)
                if out is None:  # not shown, so not solved: its lines are hidden and empty
                    lines.update({f"{m}_{c}": unsolved for c in COLUMNS})
                    continue
                for c, name in enumerate("xyz"):
                    lines[f"{m}_{name}"] = out.trajectory[:, c]
                lines[f"{m}_rmse"] = np.maximum(out.rmse_trace, RMSE_FLOOR)
                if math.isfinite(out.predictability_time) and m in shown:
                    marks["t"].append(out.predictability_time)
                    marks["y0"].append(RMSE_FLOOR)
                    marks["y1"].append(1e3)
                    marks["color"].append(self.colors[m])
            self.lines.data = lines
            self.marks.data = marks
            n_window = int(round(experiment.window_end / (t[1] - t[0]))) + 1
            obs = {"t": t[:n_window]}
            for c, name in enumerate("xyz"):
                column = np.full(n_window, np.nan)
                column[np.rint(experiment.obs_t[c] / (t[1] - t[0])).astype(int)] = experiment.obs_values[c]
                obs[name] = column
            self.obs.data = obs
            self.threshold.location = experiment.threshold
            for m, out in experiment.methods.items():
                if out.converged is None:
                    continue
                dash = "solid" if out.converged else "dotted"
                for r in self.renderers[m]:
                    if r.glyph.line_dash != dash:  # compare first: unchanged values send nothing
                        r.glyph.line_dash = dash
        for m, renderers in self.renderers.items():
            for r in renderers:
                if r.visible != (m in shown):
                    r.visible = m in shown
