"""The Cycle tab's Lorenz-96 figures, built once per session and patched in place.

- `hovmoller_figure`: the chosen method's analysis error (analysis - truth) per variable and cycle, a
  Bokeh `image` on a diverging palette whose colour range is symmetric about 0 (blue: too low, red:
  too high), so that a method that tracks the truth is pale and one that lost it is striped.
- `variable_figure`: one variable's truth (black), observations (red crosses) and each method's
  analyses at the analysis times.
- `rmse_figure`: rmse_a per cycle for every method (log axis), the burn-in shaded.
"""

from __future__ import annotations

from bokeh.models import BoxAnnotation, ColorBar, ColumnDataSource, LinearColorMapper, Range1d
from bokeh.palettes import RdBu11

from core.da.registry import CYCLED_METHOD_NAMES
from dashboard.data.cycle_data import colour
from dashboard.figures.cycle_figures import OBS_COLOR, RMSE_FLOOR, TRUTH_COLOR, _figure

DIVERGING = RdBu11  # Bokeh orders it blue (negative) .. white (0) .. red (positive)
EMPTY_IMAGE = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
EMPTY_SERIES = {"t": [], "value": []}


def hovmoller_figure():
    """(figure, image source, colour mapper)."""
    fig = _figure(
        "analysis error (analysis - truth) per variable and cycle",
        "variable",
        Range1d(0, 50),
        height=260,
        y_range=Range1d(-0.5, 39.5),
        x_axis_label="time",
    )
    mapper = LinearColorMapper(palette=DIVERGING, low=-1.0, high=1.0)
    source = ColumnDataSource(dict(EMPTY_IMAGE))
    fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper)
    fig.add_layout(ColorBar(color_mapper=mapper, width=10, title="error"), "right")
    fig.tags = ["cycle", "cycle96-hovmoller"]
    return fig, source, mapper


def variable_figure():
    """(figure, sources by name: 'truth', 'obs' and each method's, renderers by method)."""
    fig = _figure("one variable: truth, observations and analyses", "value", Range1d(0, 50), height=220)
    sources = {"truth": ColumnDataSource(dict(EMPTY_SERIES)), "obs": ColumnDataSource(dict(EMPTY_SERIES))}
    renderers = {}
    for name in CYCLED_METHOD_NAMES:
        sources[name] = ColumnDataSource(dict(EMPTY_SERIES))
        renderers[name] = [fig.line(x="t", y="value", source=sources[name], line_color=colour(name), line_width=1.6)]
    fig.line(x="t", y="value", source=sources["truth"], line_color=TRUTH_COLOR, line_width=1.5)
    fig.scatter(x="t", y="value", source=sources["obs"], marker="x", size=6, line_width=1.5, color=OBS_COLOR)
    fig.tags = ["cycle", "cycle96-variable"]
    return fig, sources, renderers


def rmse_figure():
    """(figure, sources by method, burn-in box, renderers by method)."""
    fig = _figure(
        "rmse_a at each analysis, every method (log)",
        "rmse_a",
        Range1d(0, 50),
        height=220,
        y_axis_type="log",
        y_range=Range1d(RMSE_FLOOR * 5, 30),
        x_axis_label="time",
    )
    burn_in = BoxAnnotation(left=0, right=0, fill_color="#999999", fill_alpha=0.12, line_alpha=0)
    fig.add_layout(burn_in)
    sources, renderers = {}, {}
    for name in CYCLED_METHOD_NAMES:
        sources[name] = ColumnDataSource({"t": [], "rmse": []})
        renderers[name] = [fig.line(x="t", y="rmse", source=sources[name], line_color=colour(name), line_width=1.2)]
    fig.tags = ["cycle", "cycle96-rmse"]
    return fig, sources, burn_in, renderers
