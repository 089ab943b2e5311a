"""The Cycle tab's Bokeh figures, built once per session and patched in place.

- `window_figures`: x(t), y(t), z(t) and the error at every model step, over the animated window:
  the truth (black), the observations (red crosses), each method's forecast/analysis sawtooth with
  its spread (mean -+ one standard deviation) as a band. One renderer set per method, made once;
  a method that is not chosen is hidden.
- `error_figure`: the whole run's RMSE (solid) and spread (dashed) at each analysis time, forecast
  then analysis (a sawtooth on a log axis), the burn-in shaded, the animated window outlined.
"""

from __future__ import annotations

from bokeh.models import BoxAnnotation, ColumnDataSource, Range1d, Span
from bokeh.plotting import figure

from core.da.registry import CYCLED_METHOD_NAMES
from dashboard.data.cycle_data import COMPONENTS, colour

TRUTH_COLOR, OBS_COLOR = "#000000", "#d62728"
RMSE_FLOOR = 1e-2  # the log axis' floor
TOOLS = "xpan,xwheel_zoom,reset,save"
EMPTY_METHOD = {"t": [], "error": [], **{k: [] for c in COMPONENTS for k in (c, f"{c}_lo", f"{c}_hi")}}
EMPTY_TRUTH = {"t": [], "x": [], "y": [], "z": []}


def _figure(title: str, y_label: str, x_range=None, height: int = 170, **kw):
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        min_width=300,
        tools=TOOLS,
        toolbar_location="right",
        title=title,
        y_axis_label=y_label,
        x_range=x_range if x_range is not None else Range1d(0, 5),
        **kw,
    )
    fig.title.text_font_size = "12px"
    fig.min_border_left = 50
    fig.toolbar.logo = None
    return fig


def window_figures():
    """((x, y, z, error) figures sharing one time axis, sources by name, the 'now' span, method renderers)."""
    x_range = Range1d(0, 5)
    truth = ColumnDataSource(dict(EMPTY_TRUTH))
    obs = ColumnDataSource(dict(EMPTY_TRUTH))
    sources = {"truth": truth, "obs": obs}
    sources.update({name: ColumnDataSource(dict(EMPTY_METHOD)) for name in CYCLED_METHOD_NAMES})
    renderers = {name: [] for name in CYCLED_METHOD_NAMES}
    now = Span(location=0, dimension="height", line_color="#444444", line_dash="dotted", line_width=1)
    figures = []
    for c in COMPONENTS:
        fig = _figure(f"{c}(t): the forecast grows away from the truth, each analysis pulls it back", c, x_range)
        for name in CYCLED_METHOD_NAMES:
            src, color = sources[name], colour(name)
            band = fig.varea(x="t", y1=f"{c}_lo", y2=f"{c}_hi", source=src, fill_color=color, fill_alpha=0.18)
            line = fig.line(x="t", y=c, source=src, line_color=color, line_width=1.8)
            renderers[name] += [band, line]
        fig.line(x="t", y=c, source=truth, line_color=TRUTH_COLOR, line_width=1.5)
        fig.scatter(x="t", y=c, source=obs, marker="x", size=9, line_width=2, color=OBS_COLOR)
        fig.add_layout(now)
        fig.xaxis.visible = c == "z"
        figures.append(fig)
    err = _figure(
        "error at every step (RMS over x, y, z; log)",
        "error",
        x_range,
        height=190,
        y_axis_type="log",
        y_range=Range1d(RMSE_FLOOR, 30),
        x_axis_label="time",
    )
    for name in CYCLED_METHOD_NAMES:
        renderers[name].append(
            err.line(x="t", y="error", source=sources[name], line_color=colour(name), line_width=1.8)
        )
    err.add_layout(now)
    figures.append(err)
    for fig in figures:
        fig.tags = ["cycle", "cycle-window"]
    return figures, sources, now, renderers


def error_figure():
    """(figure, sources by method, 'now' span, window box, burn-in box, renderers by method) of the whole run."""
    fig = _figure(
        "the whole run: RMSE (solid) and spread (dashed) at each analysis time, forecast then analysis",
        "RMSE, spread",
        Range1d(0, 250),
        height=230,
        y_axis_type="log",
        y_range=Range1d(RMSE_FLOOR * 5, 30),
        x_axis_label="time",
    )
    sources, renderers = {}, {}
    burn_in = BoxAnnotation(left=0, right=0, fill_color="#999999", fill_alpha=0.12, line_alpha=0)
    window = BoxAnnotation(left=0, right=0, fill_alpha=0, line_color="#444444", line_dash="dashed", line_width=1)
    fig.add_layout(burn_in)
    fig.add_layout(window)
    for name in CYCLED_METHOD_NAMES:
        src = ColumnDataSource({"t": [], "error": [], "spread": []})
        color = colour(name)
        renderers[name] = [
            fig.line(x="t", y="error", source=src, line_color=color, line_width=1.2),
            fig.line(x="t", y="spread", source=src, line_color=color, line_width=1.2, line_dash="dashed"),
        ]
        sources[name] = src
    now = Span(location=0, dimension="height", line_color="#444444", line_dash="dotted", line_width=1)
    fig.add_layout(now)
    fig.tags = ["cycle", "cycle-errors"]
    return fig, sources, now, window, burn_in, renderers
