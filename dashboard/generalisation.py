"""The Generalisation tab: how FourDVarNets trained at one setting fare away from it.

Reads the generalisation sweep's results (`python -m core sweep --json`, shipped as
`assets/models/sweep/results.json`; nothing is computed at page load) and draws:

- a heatmap, train density (rows) x test density (columns), of each model's median rmse_assim over
  strong 4DVar's on the same test problems (log colour scale centred on 1, the ratio in each cell);
  a click on a cell loads that model and that test setting into the Explore tab;
- median rmse_assim (p10-p90 as whiskers) against the test density, the test noise and the observed
  components, one colour per model, strong 4DVar as the blue reference with its p10-p90 band.

Like the Explore figures these are plain Bokeh figures; the click is a `TapTool` on the heatmap's
`ColumnDataSource`, whose `selected.indices` the server watches. Nothing here is numerics: the
optional "Recompute (quick sweep)" button runs `core.sweep.sweep(QUICK_PLAN)` in a background thread.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import panel as pn
import param
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FactorRange,
    FixedTicker,
    HoverTool,
    Legend,
    LogColorMapper,
    Range1d,
    TapTool,
)
from bokeh.palettes import RdBu11, interp_palette
from bokeh.plotting import figure
from bokeh.transform import dodge
from panel.viewable import Viewer

from core.sweep import QUICK_PLAN, SHIPPED, sweep

from .compute import METHOD_COLORS
from .jobs import BackgroundJob
from .models import sweep_model_key
from .state import COMPONENT_NAMES, ExperimentState

log = logging.getLogger(__name__)

# The shipped results; a teacher may point the page at another sweep's JSON with this variable.
RESULTS_ENV = "L63_SWEEP_RESULTS"
RESULTS_PATH = SHIPPED / "results.json"
REFERENCE = "strong_4dvar"
REQUIRED = (
    "axis",
    "model",
    "test_obs_every",
    "test_obs_noise",
    "test_observed",
    "rmse_assim_median",
    "rmse_assim_p10",
    "rmse_assim_p90",
    "ratio_to_4dvar",
)
# One colour per model, the same in every plot; none is 4DVar's blue or the observations' red. The
# mixed-density model wears FourDVarNet's purple: it is the one the Explore tab shows by default.
MODEL_COLORS = {
    "every2": "#ff7f0e",
    "every5": "#2ca02c",
    "every10": "#8c564b",
    "every20": "#e377c2",
    "mixed_every": METHOD_COLORS["fourdvarnet"],
    "mixed_components": "#17becf",
}
EXTRA_COLORS = ("#bcbd22", "#7f7f7f", "#9edae5", "#c49c94", "#f7b6d2", "#98df8a")
# Diverging, blue = better than 4DVar, white = as good, red = worse; 21 bins, 1 in the middle one.
PALETTE = tuple(interp_palette(RdBu11, 21))
RATIO_TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
AXES = {  # axis -> (the rows' test key, x-axis label, plot title)
    "density": ("test_obs_every", "tested at: observe every N steps", "median RMSE in the window vs test density"),
    "noise": ("test_obs_noise", "tested at: observation noise (std)", "... vs test noise (obs every 5)"),
    "components": ("test_observed", "tested with: observed components", "... vs observed components (obs every 5)"),
}
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
HEATMAP_WIDTH = 600  # side by side with a curve plot in the ~1300 px beside the sidebar
CURVE_WIDTH = 640

INTRO = """
### Does a learned solver work away from its training?

A FourDVarNet **learns** to solve the problems it was trained on. Here {n_solvers} solvers meet the same
{n} test problems: strong 4DVar (blue), which has no training and simply solves each problem, and
FourDVarNets trained at one observation density (every {densities} steps), on a **mix** of
densities, or on a mix of observed components.

**The heatmap**: each row is a model, each column the density it is *tested* at. The number is its
median error in the assimilation window divided by strong 4DVar's on the same problems: **1 means
as good as 4DVar** (white), above 1 worse (red), below 1 better (blue). Outlined cells are each
model's own training density. **Trained at one density, a learned solver degrades away from it;
trained on a mix it holds up.** *Click a cell* to open that model at that density in the Explore tab.

**The curves**: the same medians in absolute terms (log scale), the whiskers spanning the 10th to
90th percentile of the {n} problems; click a legend entry to hide a model.
"""


# ---------------------------------------------------------------------------------------------
# Reading the results (pure functions: the tests call them)


class ResultsError(ValueError):
    """The results file is missing or unusable; the message is meant for a student."""


def results_path() -> Path:
    """Where this server reads the sweep's results: `$L63_SWEEP_RESULTS` or the shipped file."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_PATH)


_cache: dict[str, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def load_results(path: Path | str) -> dict:
    """The sweep payload at `path`, checked; parsed once per file version for all sessions.

    Raises:
        ResultsError: missing, unreadable, not JSON, or not a sweep's payload.
    """
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ResultsError(
            f"No sweep results at {path}. Compute them with `python -m core sweep --json > {path}` "
            "(or press “Recompute (quick sweep)” below)."
        ) from None
    with _cache_lock:
        hit = _cache.get(str(path))
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"The sweep results in {path.name} could not be read ({exc.__class__.__name__}).") from None
    check_payload(payload, path.name)
    with _cache_lock:
        _cache[str(path)] = (mtime, payload)
    return payload


def check_payload(payload, name: str = "the results") -> None:
    """Raise `ResultsError` unless `payload` looks like `core.sweep.sweep(...)`'s output."""
    rows = payload.get("rows") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ResultsError(f"{name} holds no sweep rows (expected the JSON of `python -m core sweep --json`).")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or any(k not in row for k in REQUIRED):
            missing = [k for k in REQUIRED if not isinstance(row, dict) or k not in row]
            raise ResultsError(f"{name}: row {i} lacks {', '.join(missing)}; is it a sweep's output?")
        for k in ("rmse_assim_median", "rmse_assim_p10", "rmse_assim_p90", "ratio_to_4dvar"):
            if not isinstance(row[k], (int, float)) or isinstance(row[k], bool):
                raise ResultsError(f"{name}: row {i} has a non-numeric {k} ({row[k]!r}).")
    if not any(r["axis"] == "density" and r["model"] == REFERENCE for r in rows):
        raise ResultsError(f"{name} has no strong 4DVar reference on the density axis.")


def model_order(rows) -> list[str]:
    """The models of the rows, 4DVar excluded: every<N> by N, then the mixed ones, then the rest."""
    names = list(dict.fromkeys(r["model"] for r in rows if r["model"] != REFERENCE))

    def key(name):
        if name.startswith("every") and name[5:].isdigit():
            return (0, int(name[5:]), name)
        if name == "mixed_every":
            return (1, 0, name)
        return (2, 0, name)

    return sorted(names, key=key)


def model_label(name: str, rows=()) -> str:
    """What a model was trained on, short: "trained every 5", "mixed densities 2-25", ..."""
    row = next((r for r in rows if r["model"] == name), {})
    every, observed = row.get("train_obs_every"), str(row.get("train_observed") or "")
    if isinstance(every, str) and every.startswith("mixed:"):
        values = every[len("mixed:") :].split("/")
        return f"mixed densities {values[0]}-{values[-1]}"
    if "/" in observed:
        return f"mixed components (every {every})" if every is not None else "mixed components"
    if name.startswith("every") and name[5:].isdigit():
        return f"trained every {name[5:]}"
    if every is not None:
        return f"{name} (every {every})"
    return name


def _densities(names) -> str:
    """ "2, 5, 10 or 20": the single training densities among the model names."""
    single = [str(n) for n in sorted(int(m[5:]) for m in names if m.startswith("every") and m[5:].isdigit())]
    if len(single) < 2:
        return single[0] if single else "N"
    return ", ".join(single[:-1]) + " or " + single[-1]


def model_colors(names) -> dict[str, str]:
    out, extra = {}, iter(EXTRA_COLORS * 4)
    for name in names:
        out[name] = MODEL_COLORS.get(name) or next(extra)
    return out


def _text_color(ratio: float, span: float) -> str:
    """White text on the dark ends of the colour scale, black elsewhere."""
    return "#ffffff" if abs(math.log(max(ratio, 1e-12))) > 0.6 * math.log(span) else "#000000"


def ratio_span(ratios) -> float:
    """The colour scale runs from 1/span to span (centred on 1 in log): the data's widest ratio."""
    finite = [r for r in ratios if isinstance(r, (int, float)) and r > 0 and math.isfinite(r)]
    widest = max((max(r, 1 / r) for r in finite), default=2.0)
    return float(min(max(widest * 1.05, 2.0), 50.0))


def heatmap_data(payload: dict) -> dict:
    """The heatmap's cells, one per (model, test density) of the density axis, 4DVar excluded.

    Returns a dict of columns (for a `ColumnDataSource`): model, label (the row's factor), test
    (the column's factor, a string), test_obs_every, test_obs_noise, test_observed, ratio,
    ratio_text, rmse, rmse_4dvar, own (1 where the model was trained at that density), model_key,
    line_width, text_color. Plus "models", "labels", "tests" (the factors in order) and "span".
    """
    rows = [r for r in payload["rows"] if r["axis"] == "density"]
    reference = {r["test_obs_every"]: r for r in rows if r["model"] == REFERENCE}
    tests = sorted({r["test_obs_every"] for r in rows}, key=float)
    names = model_order(rows)
    labels = {n: model_label(n, rows) for n in names}
    preset = payload.get("preset", "attractor")
    span = ratio_span([r["ratio_to_4dvar"] for r in rows if r["model"] != REFERENCE])
    cols = {
        k: []
        for k in (
            "model",
            "label",
            "test",
            "test_obs_every",
            "test_obs_noise",
            "test_observed",
            "ratio",
            "ratio_text",
            "rmse",
            "rmse_4dvar",
            "own",
            "model_key",
            "line_width",
            "text_color",
        )
    }
    order = {n: i for i, n in enumerate(names)}
    for r in sorted(
        (r for r in rows if r["model"] != REFERENCE), key=lambda r: (order[r["model"]], float(r["test_obs_every"]))
    ):
        ratio = float(r["ratio_to_4dvar"])
        own = r.get("train_obs_every") == r["test_obs_every"]
        cols["model"].append(r["model"])
        cols["label"].append(labels[r["model"]])
        cols["test"].append(str(r["test_obs_every"]))
        cols["test_obs_every"].append(int(r["test_obs_every"]))
        cols["test_obs_noise"].append(float(r["test_obs_noise"]))
        cols["test_observed"].append(str(r["test_observed"]))
        cols["ratio"].append(ratio)
        cols["ratio_text"].append(f"{ratio:.2f}" if math.isfinite(ratio) else "-")
        cols["rmse"].append(float(r["rmse_assim_median"]))
        ref = reference.get(r["test_obs_every"])
        cols["rmse_4dvar"].append(float(ref["rmse_assim_median"]) if ref else float("nan"))
        cols["own"].append(int(own))
        cols["model_key"].append(sweep_model_key(preset, r["model"]))
        cols["line_width"].append(3.0 if own else 0.5)
        cols["text_color"].append(_text_color(ratio, span))
    return {
        "columns": cols,
        "models": names,
        "labels": [labels[n] for n in names],
        "tests": [str(t) for t in tests],
        "span": span,
    }


def curve_data(payload: dict, axis: str) -> dict[str, dict[str, list]]:
    """model -> {x, median, p10, p90} along `axis` ("density", "noise" or "components"), in test order."""
    key = AXES[axis][0]
    rows = [r for r in payload["rows"] if r["axis"] == axis]
    out: dict[str, dict[str, list]] = {}
    for name in [REFERENCE, *model_order(rows)]:
        mine = [r for r in rows if r["model"] == name]
        if axis != "components":
            mine.sort(key=lambda r: float(r[key]))
        if mine:
            out[name] = {
                "x": [r[key] if axis == "components" else float(r[key]) for r in mine],
                "median": [float(r["rmse_assim_median"]) for r in mine],
                "p10": [float(r["rmse_assim_p10"]) for r in mine],
                "p90": [float(r["rmse_assim_p90"]) for r in mine],
            }
    return out


def mixed_summary(payload: dict) -> str:
    """One sentence on the mixed-density model, from the data: its worst ratio over densities 2-20."""
    cells = [
        r
        for r in payload["rows"]
        if r["axis"] == "density" and r["model"] == "mixed_every" and 2 <= float(r["test_obs_every"]) <= 20
    ]
    if not cells:
        return ""
    worst = max(cells, key=lambda r: r["ratio_to_4dvar"])
    verdict = "within" if worst["ratio_to_4dvar"] <= 1.5 else "not within"
    return (
        f"The mixed-density model is {verdict} 1.5x of strong 4DVar at every test density from 2 to 20 "
        f"(its worst: {worst['ratio_to_4dvar']:.2f}x at every {worst['test_obs_every']})."
    )


# ---------------------------------------------------------------------------------------------
# Figures


def heatmap_figure(data: dict):
    """(figure, source, rect renderer) of the ratio heatmap."""
    source = ColumnDataSource(data["columns"])
    span = data["span"]
    mapper = LogColorMapper(palette=PALETTE, low=1 / span, high=span)
    height = 110 + 52 * max(len(data["labels"]), 1)
    fig = figure(
        x_range=FactorRange(*data["tests"]),
        y_range=FactorRange(*reversed(data["labels"])),
        width=HEATMAP_WIDTH,
        height=height,
        tools="tap,save",
        toolbar_location="above",
        title="median RMSE / strong 4DVar's (click a cell: open it in Explore)",
        x_axis_label="tested at: observe every N steps",
        y_axis_label="trained on",
    )
    fig.grid.grid_line_color = None
    fig.axis.axis_line_color = None
    fig.axis.major_tick_line_color = None
    fig.min_border_left = 40
    rect = fig.rect(
        "test",
        "label",
        1,
        1,
        source=source,
        fill_color={"field": "ratio", "transform": mapper},
        line_color="#222222",
        line_width="line_width",
        nonselection_fill_alpha=1.0,
        nonselection_line_alpha=1.0,
        selection_line_color="#000000",
    )
    fig.text(
        "test",
        "label",
        text="ratio_text",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_color="text_color",
        text_font_size="13px",
        nonselection_text_alpha=1.0,
    )
    fig.select_one(TapTool).renderers = [rect]
    fig.add_tools(
        HoverTool(
            renderers=[rect],
            tooltips=[
                ("model", "@label"),
                ("tested at", "every @test"),
                ("median RMSE", "@rmse{0.000}"),
                ("strong 4DVar", "@rmse_4dvar{0.000}"),
                ("ratio", "@ratio{0.00}"),
            ],
        )
    )
    ticks = [t for t in RATIO_TICKS if 1 / span <= t <= span]
    fig.add_layout(
        ColorBar(
            color_mapper=mapper,
            ticker=FixedTicker(ticks=ticks),
            width=12,
            title="ratio to 4DVar",
            major_label_text_font_size="11px",
        ),
        "right",
    )
    fig.tags = ["generalisation", "generalisation-heatmap"]  # found by the browser tests
    return fig, source, rect


def curve_figure(curves: dict, axis: str, colors: dict, labels: dict, width: int = CURVE_WIDTH):
    """Median rmse_assim per model along `axis`, log y; 4DVar blue with its p10-p90 band."""
    _, x_label, title = AXES[axis]
    categorical = axis == "components"
    tests = list(dict.fromkeys(x for c in curves.values() for x in c["x"]))
    if categorical:
        kw = dict(x_range=FactorRange(*[str(t) for t in tests]))
    elif axis == "noise":
        kw = dict(x_axis_type="log", x_range=Range1d(min(tests) / 1.4, max(tests) * 1.4))
    else:
        kw = dict(x_range=Range1d(min(tests) - 1.5, max(tests) + 1.5))
    values = [v for c in curves.values() for v in (*c["p10"], *c["p90"]) if v > 0 and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (1e-2, 1.0)
    fig = figure(
        width=width,
        height=360,
        y_axis_type="log",
        y_range=Range1d(lo / 1.5, hi * 1.5),
        tools=TOOLS,
        toolbar_location="above",
        title=title,
        x_axis_label=x_label,
        y_axis_label="RMSE in the window",
        **kw,
    )
    if not categorical:  # ticks at the tested values only
        fig.xaxis.ticker = FixedTicker(ticks=[float(t) for t in tests], minor_ticks=[])
    fig.add_layout(Legend(click_policy="hide", label_text_font_size="11px", spacing=0, padding=4), "right")
    models = [n for n in curves if n != REFERENCE]
    for i, name in enumerate([REFERENCE, *models]):
        c = curves[name]
        offset = 0.0 if name == REFERENCE else (i - (len(models) + 1) / 2) / max(len(models), 1)
        data = {
            "x": [str(x) for x in c["x"]] if categorical else c["x"],
            "median": c["median"],
            "p10": c["p10"],
            "p90": c["p90"],
            "label": [labels.get(name, name)] * len(c["x"]),
        }
        if not categorical:  # a small sideways shift per model so whiskers do not hide each other
            data["x"] = [x * math.exp(0.12 * offset) if axis == "noise" else x + 0.8 * offset for x in c["x"]]
        source = ColumnDataSource(data)
        x = dodge("x", 0.5 * offset, range=fig.x_range) if categorical else "x"
        color = METHOD_COLORS[REFERENCE] if name == REFERENCE else colors[name]
        legend = "strong 4DVar (reference)" if name == REFERENCE else labels.get(name, name)
        if name == REFERENCE:
            fig.varea(x=x, y1="p10", y2="p90", source=source, fill_color=color, fill_alpha=0.13, legend_label=legend)
        else:
            fig.segment(
                x0=x,
                x1=x,
                y0="p10",
                y1="p90",
                source=source,
                line_color=color,
                line_width=1.3,
                line_alpha=0.6,
                legend_label=legend,
            )
        width_ = 3.0 if name in (REFERENCE, "mixed_every") else 1.8
        fig.line(x=x, y="median", source=source, line_color=color, line_width=width_, legend_label=legend)
        points = fig.scatter(x=x, y="median", source=source, color=color, size=7, legend_label=legend)
        fig.add_tools(
            HoverTool(
                renderers=[points],
                tooltips=[
                    ("model", "@label"),
                    ("median", "@median{0.000}"),
                    ("p10 - p90", "@p10{0.000} - @p90{0.000}"),
                ],
            )
        )
    fig.tags = ["generalisation", f"generalisation-{axis}"]
    return fig


# ---------------------------------------------------------------------------------------------
# The view


class _SweepJob(BackgroundJob):
    """The quick sweep in a background thread, one at a time per server process."""

    what = "the quick sweep"
    thread_name = "l63-sweep"
    logger = log

    def __init__(self, run):
        self.run, self.payload = run, None
        self.lines: list[str] = []
        super().__init__()

    def work(self):
        self.payload = self.run()
        check_payload(self.payload, "the quick sweep")


def quick_sweep() -> dict:
    """`core.sweep.sweep(QUICK_PLAN)` with the shipped models (evaluation only, ~a minute on 2 cores)."""
    return sweep(QUICK_PLAN, use_shipped=True)


class GeneralisationView(Viewer):
    """The heatmap and the three curve plots; a click on a cell loads it into the Explore tab."""

    state = param.ClassSelector(class_=ExperimentState)
    results = param.Parameter(default=None, doc="Path of the sweep's JSON (default: `results_path()`).")

    def __init__(self, on_pick=None, sweep_fn=quick_sweep, lazy: bool = False, **params):
        super().__init__(**params)
        self.on_pick = on_pick  # called after a cell was loaded into the state (the tab switch)
        self.sweep_fn = sweep_fn
        self.payload: dict | None = None
        self.source_label = ""
        self.heatmap = self.heatmap_source = self.heatmap_renderer = None
        self.curves: dict = {}
        self.intro = pn.pane.Markdown("", sizing_mode="stretch_width", max_width=1100)
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width")
        self.message = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width", margin=(5, 10)
        )
        self.picked = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.heatmap_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.density_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.noise_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.components_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.recompute = pn.widgets.Button(label="Recompute (quick sweep)", width=230)
        self.recompute.on_click(self._start_sweep)
        self.progress = pn.indicators.Progress(value=-1, active=True, width=200, visible=False, bar_color="primary")
        self.sweep_status = pn.pane.HTML(
            '<div class="help">The figures come from the shipped sweep (no computation here). The quick sweep '
            "re-evaluates the shipped models on 64 fresh problems at fewer settings (about a minute).</div>",
            sizing_mode="stretch_width",
        )
        self.job: _SweepJob | None = None
        self._poll = None
        if not lazy:  # lazy: the figures are built by `ensure_loaded()`, when the tab is first shown
            self.reload()

    # -- data -------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the results file; on failure show a friendly message (the page keeps working)."""
        path = Path(self.results) if self.results is not None else results_path()
        try:
            payload = load_results(path)
        except ResultsError as exc:
            self.show_message(str(exc))
            return False
        self.load(payload, f"from {path.name}, {payload.get('n_problems', '?')} test problems")
        return True

    def ensure_loaded(self) -> None:
        """Build the figures if they were never built (a lazy view, shown for the first time)."""
        if self.payload is None and not self.message.visible:
            self.reload()

    def show_message(self, text: str):
        self.message.param.update(object=text, visible=True)
        self.heatmap_source = None
        for pane in (self.heatmap_pane, self.density_pane, self.noise_pane, self.components_pane):
            pane.visible = False

    def load(self, payload: dict, label: str = "") -> None:
        """Draw `payload` (a sweep's output): new figures, built once per load."""
        try:
            check_payload(payload)
            data = heatmap_data(payload)
            names = data["models"]
            colors = model_colors(names)
            rows = payload["rows"]
            labels = {n: model_label(n, rows) for n in names}
            figures = {}
            for axis in AXES:
                curves = curve_data(payload, axis)
                figures[axis] = curve_figure(curves, axis, colors, labels) if curves else None
            heatmap, source, rect = heatmap_figure(data)
        except ResultsError as exc:
            self.show_message(str(exc))
            return
        except (KeyError, TypeError, ValueError) as exc:
            log.exception("the sweep results could not be drawn")
            self.show_message(
                f"The sweep results could not be drawn ({exc.__class__.__name__}); is the file a sweep's output?"
            )
            return
        source.selected.on_change("indices", self._on_tap)
        self.payload, self.source_label = payload, label
        self.heatmap, self.heatmap_source, self.heatmap_renderer, self.curves = heatmap, source, rect, figures
        with pn.io.hold():
            self.message.visible = False
            self.intro.object = INTRO.format(
                n=payload.get("n_problems", "the"), n_solvers=len(names) + 1, densities=_densities(names)
            )
            summary = mixed_summary(payload)
            self.summary.object = (
                f'<div class="legend"><b>{html.escape(summary)}</b> '
                f'<span class="help">({html.escape(label)})</span></div>'
            )
            self.heatmap_pane.param.update(object=heatmap, visible=True)
            for axis, pane in (
                ("density", self.density_pane),
                ("noise", self.noise_pane),
                ("components", self.components_pane),
            ):
                pane.param.update(object=figures[axis], visible=figures[axis] is not None)

    # -- the click ---------------------------------------------------------------------------

    def _on_tap(self, attr, old, new):
        if not new:
            return
        try:
            self.pick(new[0])
        finally:
            self.heatmap_source.selected.indices = []  # so that clicking the same cell again works

    def pick(self, index: int) -> bool:
        """Load heatmap cell `index` into the state: its model, preset and test setting."""
        cols = self.heatmap_source.data
        key, label = cols["model_key"][index], cols["label"][index]
        every = int(cols["test_obs_every"][index])
        observed = [c for c in COMPONENT_NAMES if c in str(cols["test_observed"][index])]
        try:
            if key not in self.state.param.model.objects:
                self.state.refresh_models()
            if key not in self.state.param.model.objects:
                raise ValueError(f"its model file ({key.rsplit('/', 1)[-1]}) is not on this server")
            self.state.param.update(
                preset=self.payload.get("preset", "attractor"),
                model=key,
                obs_every=every,
                obs_noise=float(cols["test_obs_noise"][index]),
                observed=observed or list(COMPONENT_NAMES),
            )
        except ValueError as exc:
            self.picked.object = f'<p class="bad">That cell cannot be opened: {html.escape(str(exc))}</p>'
            return False
        self.picked.object = (
            f"<p>Opened in Explore: <b>{html.escape(label)}</b> tested at every {every} "
            f"(ratio {cols['ratio'][index]:.2f} over the {self.payload.get('n_problems')} "
            "problems; the Explore tab shows one of them).</p>"
        )
        if self.on_pick is not None:
            self.on_pick()
        return True

    # -- recompute ---------------------------------------------------------------------------

    def _start_sweep(self, event=None):
        job = _SweepJob.start(self.sweep_fn)
        if job is None:
            self.sweep_status.object = '<p class="bad">A sweep is already running on this server; try later.</p>'
            return
        self.job = job
        self.recompute.disabled = True
        self.progress.visible = True
        self.sweep_status.object = "<p>Running the quick sweep in the background...</p>"
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._poll = pn.state.add_periodic_callback(self.poll_sweep, period=500)

    def poll_sweep(self):
        """Show the quick sweep's result once it is done (a periodic callback while it runs)."""
        job = self.job
        if job is None or not job.done:
            if job is not None:
                seconds = time.perf_counter() - job.started
                self.sweep_status.object = f"<p>Running the quick sweep... {seconds:.0f} s</p>"
            return
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        self.job = None
        with pn.io.hold():
            self.recompute.disabled = False
            self.progress.visible = False
            if job.error:
                self.sweep_status.object = f'<p class="bad">{html.escape(job.error)}</p>'
                return
            seconds = time.perf_counter() - job.started
            self.load(
                job.payload,
                f"quick sweep computed now in {seconds:.0f} s, {job.payload.get('n_problems')} test problems",
            )
            self.sweep_status.object = (
                f'<p class="good">Quick sweep done in {seconds:.0f} s; the figures show it '
                "(reload the page for the shipped sweep).</p>"
            )

    def __panel__(self):
        return pn.Column(
            self.intro,
            self.message,
            self.summary,
            pn.Row(pn.Column(self.heatmap_pane, self.picked, width=HEATMAP_WIDTH + 10), self.density_pane),
            pn.Row(self.noise_pane, self.components_pane),
            pn.Row(self.recompute, self.progress, self.sweep_status),
            sizing_mode="stretch_width",
        )
