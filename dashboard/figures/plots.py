"""The Explore figures, drawn once per session and then patched in place on every change.

Each of the five figures (x(t), y(t), z(t), RMSE(t) and the x-z butterfly) draws all its curves
with ONE `MultiLine` renderer, and all five read one `ColumnDataSource` (one row per shown curve:
t, x, y, z, rmse, colour, dash, width). An update replaces its data under `pn.io.hold()` (one
websocket message, each curve sent once) and never rebuilds a figure; a hidden method is simply
not a row. One renderer per figure
instead of one per method and figure keeps a page at ~1/3 of the Bokeh models (the page's build
cost, which 30 students opening the page at once pay 30 times) and the browser's redraw short.
The four time plots share one x range, so zooming one zooms them all, and stretch to the width of
the page. (A HoloViews `DynamicMap` per plot did the same at ~200 ms of Python per update.)
The training loss curve, a single element, stays a HoloViews `DynamicMap` fed by a `Pipe`.
"""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import (
    AllIndices,
    AllLabels,
    BasicTicker,
    BasicTickFormatter,
    BoxAnnotation,
    CDSView,
    ColumnDataSource,
    MultiLine,
    Node,
    Range1d,
    Scatter,
    Segment,
    Span,
    UnionRenderers,
    VArea,
)
from bokeh.plotting import figure

from dashboard.data.compute import RMSE_FLOOR, Experiment, method_colors

TIME_HEIGHT = 150
RMSE_HEIGHT = 190
PHASE_HEIGHT = 380
MIN_WIDTH = 280  # a 390 px phone, less the margins
WINDOW_FILL = "#f2d98a"
LINE_WIDTH = {"truth": 2.0, "free_run": 1.5}  # others: DEFAULT_WIDTH
DEFAULT_WIDTH = 1.8
LINE_DASH = {"free_run": "dashed"}  # others solid; a solver that did not converge: dotted
EMPTY_T = np.zeros(0)
YLIM = {"x": (-25.0, 25.0), "y": (-32.0, 32.0), "z": (-5.0, 55.0)}  # the attractor's extent
# Few tools: each is a Bokeh model per figure, per page (the "Figure (PNG)" button saves the page's figures).
TOOLS = "xpan,xwheel_zoom,reset"
# Presentation mode (a projector): larger text and thicker lines.
FONT = {False: ("10px", "11px", "12px"), True: ("16px", "17px", "18px")}  # ticks, axis labels, titles
WIDTH_SCALE = {False: 1.0, True: 1.6}


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


class SharedParts:
    """Stateless Bokeh models that every figure of a page can share (tickers, formatters, label
    policies, the window's box handles): one model each per page instead of one per axis, which
    cuts the models a page builds and serialises (its cost, paid 30 times when a class opens it)."""

    def __init__(self):
        self.ticker = BasicTicker()
        self.formatter = BasicTickFormatter()
        self.labels = AllLabels()
        self.handles = BoxAnnotation().handles  # (the default handles, made once)
        self.top, self.bottom = Node.frame.top, Node.frame.bottom  # the window box spans the frame
        self.all_rows = AllIndices()  # every renderer's view filter (a view itself cannot be shared)
        self.selection_policy = UnionRenderers()  # every source's

    def source(self, data: dict) -> ColumnDataSource:
        return ColumnDataSource(data, selection_policy=self.selection_policy)

    def axes(self, fig, which=("x", "y")):
        """Point `fig`'s linear axes (and their grid lines) at the shared ticker and formatter."""
        for name in which:
            for axis in getattr(fig, f"{name}axis"):
                axis.major_label_policy = self.labels
                if isinstance(axis.ticker, BasicTicker):
                    axis.ticker = self.ticker
                    axis.formatter = self.formatter
            for grid in getattr(fig, f"{name}grid"):
                if isinstance(grid.ticker, BasicTicker):
                    grid.ticker = self.ticker


def _time_figure(shared, x_range, label, y_range, height, **kw):
    fig = figure(
        height=height,
        min_width=MIN_WIDTH,
        sizing_mode="stretch_width",
        x_range=x_range,
        y_range=y_range,
        tools=TOOLS,
        y_axis_label=label,
        **kw,
    )
    fig.add_layout(
        BoxAnnotation(
            left=0.0,
            right=0.5,
            fill_color=WINDOW_FILL,
            fill_alpha=0.45,
            line_alpha=0,
            level="underlay",
            top=shared.top,
            bottom=shared.bottom,
            handles=shared.handles,
        )
    )  # its right edge follows the experiment's window (`ExploreFigures.update`)
    shared.axes(fig)
    fig.min_border_left = 60
    fig.toolbar.logo = None
    return fig


CURVE_COLUMNS = ("t", "x", "y", "z", "rmse", "color", "dash", "width")
BAND_METHOD = "strong_4dvar"  # the method whose uncertainty band is drawn
BAND_SIGMAS = 2.0
BAND_ALPHA = 0.18


def _empty_band() -> dict:
    return {"t": EMPTY_T, **{f"{c}_{side}": EMPTY_T for c in "xyz" for side in ("lo", "hi")}}


def band_data(t, trajectory, std, sigmas: float = BAND_SIGMAS) -> dict:
    """The band's columns: trajectory -+ sigmas * std for x, y, z (float32), over times `t`."""
    trajectory = np.asarray(trajectory, dtype=np.float32)
    spread = sigmas * np.asarray(std, dtype=np.float32)
    data = {"t": np.asarray(t, dtype=np.float32)}
    for c, name in enumerate("xyz"):
        data[f"{name}_lo"] = trajectory[:, c] - spread[:, c]
        data[f"{name}_hi"] = trajectory[:, c] + spread[:, c]
    return data


def _glyph(fig, shared, source, glyph):
    """Add `glyph` drawn from `source`, with no selection or muted variants (models nobody uses).

    Its view stays its own: BokehJS computes a view's rows from one source, so a view shared by
    renderers of sources of different lengths cut the observations and the band to the curves' rows."""
    return fig.add_glyph(source, glyph, nonselection_glyph=None, muted_glyph=None, view=CDSView(filter=shared.all_rows))


def _curves(fig, shared, source, xs, ys):
    """One MultiLine for every curve of `fig`: columns `xs` against `ys` of the shared source."""
    _glyph(fig, shared, source, MultiLine(xs=xs, ys=ys, line_color="color", line_dash="dash", line_width="width"))


class ExploreFigures:
    """One session's Explore figures and the data sources they draw from."""

    def __init__(self):
        self.colors = method_colors()
        self.presenting = False
        # One row per shown curve (t, x, y, z, rmse as arrays; colour, dash, width), read by all five
        # figures: an update sends each curve once and every figure redraws from it.
        self.shared = shared = SharedParts()
        self.curves = shared.source({c: [] for c in CURVE_COLUMNS})
        self.obs = shared.source({"t": EMPTY_T, "x": EMPTY_T, "y": EMPTY_T, "z": EMPTY_T})
        self.marks = shared.source({"t": [], "y0": [], "y1": [], "color": []})
        # Strong 4DVar's +-2 sigma band (its Gauss-Newton posterior std), one VArea per time plot.
        self.band = shared.source(_empty_band())
        x_range = Range1d(0.0, 10.0, bounds=(0.0, 10.0))
        self.figures = []
        for c, name in enumerate("xyz"):
            fig = _time_figure(self.shared, x_range, name, Range1d(*YLIM[name]), TIME_HEIGHT)
            if c == 0:
                fig.title.text = "x(t), y(t), z(t)"
            # The four time plots share one x range and stand in one column: only the RMSE plot at
            # the bottom draws the time axis (its labels are most of what a browser repaints on every
            # redraw: each tick label is measured and drawn again).
            fig.xaxis.visible = False
            _glyph(
                fig,
                self.shared,
                self.band,
                VArea(
                    x="t",
                    y1=f"{name}_lo",
                    y2=f"{name}_hi",
                    fill_color=self.colors.get(BAND_METHOD, "#1f77b4"),
                    fill_alpha=BAND_ALPHA,
                ),
            )
            _curves(fig, self.shared, self.curves, "t", name)
            _glyph(
                fig,
                self.shared,
                self.obs,
                Scatter(x="t", y=name, marker="x", size=9, line_width=2, line_color=self.colors["observations"]),
            )
            self.figures.append(fig)
        rmse = _time_figure(self.shared, x_range, "RMSE(t)", Range1d(RMSE_FLOOR, 100.0), RMSE_HEIGHT, y_axis_type="log")
        rmse.title.text = "error against the truth, RMSE(t)"
        rmse.xaxis.axis_label = "time t"
        _curves(rmse, self.shared, self.curves, "t", "rmse")
        self.threshold = Span(location=4.2, dimension="width", line_color="#444444", line_dash="dotted", line_width=1.5)
        rmse.add_layout(self.threshold)
        _glyph(
            rmse,
            self.shared,
            self.marks,
            Segment(x0="t", x1="t", y0="y0", y1="y1", line_color="color", line_dash="dashdot", line_width=1.3),
        )
        self.figures.append(rmse)
        self.grid = gridplot(
            [[f] for f in self.figures], merge_tools=True, toolbar_location="above", sizing_mode="stretch_width"
        )
        self.phase = figure(
            height=PHASE_HEIGHT,
            min_width=MIN_WIDTH,
            sizing_mode="stretch_width",
            tools="pan,wheel_zoom,reset",
            toolbar_location="above",
            x_range=Range1d(-22.0, 22.0),
            y_range=Range1d(-2.0, 52.0),
            title="the x-z plane (the butterfly)",
            x_axis_label="x",
            y_axis_label="z",
        )
        self.phase.toolbar.logo = None
        self.shared.axes(self.phase)
        _curves(self.phase, self.shared, self.curves, "x", "z")
        self.all_figures = [*self.figures, self.phase]
        self.window_boxes = [box for fig in self.figures for box in fig.select(type=BoxAnnotation)]
        self._style_text()

    def _style_text(self):
        ticks, labels, titles = FONT[self.presenting]
        for fig in self.all_figures:
            fig.title.text_font_size = titles
            for axis in (*fig.xaxis, *fig.yaxis):
                axis.major_label_text_font_size = ticks
                axis.axis_label_text_font_size = labels

    def set_presentation(self, on: bool, experiment=None, shown=()) -> None:
        """Larger text and thicker lines for a projector (call under hold)."""
        if on == self.presenting:
            return
        self.presenting = on
        self._style_text()
        self.update(experiment, shown)

    def update(self, experiment: Experiment | None, shown) -> None:
        """Write the experiment's shown curves into the sources (call under hold)."""
        if experiment is None:
            return
        t = experiment.t.astype(np.float32)  # float32 halves what goes over the websocket
        scale = WIDTH_SCALE[self.presenting]
        nan = np.full_like(t, np.nan)
        curves = {c: [] for c in CURVE_COLUMNS}

        def add(name, trajectory, rmse, dash):
            trajectory = np.asarray(trajectory, dtype=np.float32)
            for c, column in enumerate("xyz"):
                curves[column].append(trajectory[:, c])
            curves["t"].append(t)
            curves["rmse"].append(nan if rmse is None else np.maximum(rmse, RMSE_FLOOR).astype(np.float32))
            curves["color"].append(self.colors[name])
            curves["dash"].append(dash)
            curves["width"].append(LINE_WIDTH.get(name, DEFAULT_WIDTH) * scale)

        if "truth" in shown:
            add("truth", experiment.truth, None, "solid")  # its error is zero: no RMSE curve
        marks = {"t": [], "y0": [], "y1": [], "color": []}
        for m, out in experiment.methods.items():
            if m not in shown:
                continue
            add(
                m, out.trajectory, out.rmse_trace, LINE_DASH.get(m, "solid") if out.converged is not False else "dotted"
            )
            if math.isfinite(out.predictability_time):
                marks["t"].append(out.predictability_time)
                marks["y0"].append(RMSE_FLOOR)
                marks["y1"].append(1e3)
                marks["color"].append(self.colors[m])
        self.curves.data = curves
        self.marks.data = marks
        banded = experiment.methods.get(BAND_METHOD) if BAND_METHOD in shown else None
        if banded is not None and banded.converged and banded.std is not None:  # see `MethodOutput.std`
            self.band.data = band_data(t, banded.trajectory, banded.std)
        elif len(self.band.data["t"]):
            self.band.data = _empty_band()
        n_window = int(round(experiment.window_end / (experiment.t[1] - experiment.t[0]))) + 1
        obs = {"t": t[:n_window]}
        for c, name in enumerate("xyz"):
            column = np.full(n_window, np.nan, dtype=np.float32)
            if "observations" in shown:
                column[np.rint(experiment.obs_t[c] / (experiment.t[1] - experiment.t[0])).astype(int)] = (
                    experiment.obs_values[c]
                )
            obs[name] = column
        self.obs.data = obs
        self.threshold.location = experiment.threshold
        for box in self.window_boxes:  # the shaded assimilation window ends where this experiment's does
            box.right = float(experiment.window_end)
