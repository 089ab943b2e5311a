"""The Generalisation tab's Bokeh figures: the ratio heatmap and the curves along each test axis.

Plain Bokeh figures, like the Explore tab's. The click on a heatmap cell is a `TapTool` on the
heatmap's `ColumnDataSource`, whose `selected.indices` the view watches on the server. The data
come shaped from `generalisation_data`.
"""

from __future__ import annotations

import itertools
import math

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

from dashboard.data.compute import method_colors
from dashboard.data.generalisation_data import REFERENCE

# One colour per model, the same in every plot; none is 4DVar's blue or the observations' red. The
# mixed-density model wears FourDVarNet's purple: it is the one the Explore tab shows by default.
MODEL_COLORS = {
    "every2": "#ff7f0e",
    "every5": "#2ca02c",
    "every10": "#8c564b",
    "every20": "#e377c2",
    "mixed_every": method_colors()["fourdvarnet"],
    "mixed_components": "#17becf",
    # The model-error axis (assets/models/model_error_sweep.json): the mixed-mismatch model wears the purple.
    "fourdvarnet_mixed": method_colors()["fourdvarnet"],
    "fourdvarnet_rho26": "#ff7f0e",
    "fourdvarnet_perfect_model": "#8c564b",
}
EXTRA_COLORS = ("#bcbd22", "#7f7f7f", "#9edae5", "#c49c94", "#f7b6d2", "#98df8a")
# Diverging, blue = better than 4DVar, white = as good, red = worse; 21 bins, 1 in the middle one.
PALETTE = tuple(interp_palette(RdBu11, 21))
RATIO_TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
AXES = {  # axis -> (x-axis label, plot title); the same keys as `generalisation_data.AXIS_KEYS`
    "density": ("tested at: observe every N steps", "median RMSE in the window vs test density"),
    "noise": ("tested at: observation noise (std)", "... vs test noise (obs every 5)"),
    "components": ("tested with: observed components", "... vs observed components (obs every 5)"),
    "mismatch": ("tested at: the methods' rho (the truth's: 28)", "model error: median RMSE vs the methods' rho"),
}
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
HEATMAP_WIDTH = 600  # side by side with a curve plot in the ~1300 px beside the sidebar
CURVE_WIDTH = 640


DISTINCT_COLORS = len(MODEL_COLORS) + len(EXTRA_COLORS)  # beyond this many models, colours repeat


def model_colors(names) -> dict[str, str]:
    """One colour per model name: its own in `MODEL_COLORS`, else the next of `EXTRA_COLORS` (cycled:
    with more models than colours some share one, and the view says so)."""
    out, extra = {}, itertools.cycle(EXTRA_COLORS)
    for name in names:
        out[name] = MODEL_COLORS.get(name) or next(extra)
    return out


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


def curve_figure(
    curves: dict,
    axis: str,
    colors: dict,
    labels: dict,
    width: int = CURVE_WIDTH,
    reference: str = "strong 4DVar (reference)",
    reference_color: str | None = None,
):
    """Median rmse_assim per model along `axis`, log y; the reference (4DVar) with its p10-p90 band."""
    x_label, title = AXES[axis]
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
        color = (reference_color or method_colors()[REFERENCE]) if name == REFERENCE else colors[name]
        legend = reference if name == REFERENCE else labels.get(name, name)
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
