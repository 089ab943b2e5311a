"""The Explore tab for Lorenz-96: space-time maps (truth, analysis, error), one variable, RMSE(t), the table.

Built the first time a page chooses Lorenz-96 (`ExploreView.refresh`), so a Lorenz-63 page builds none of it.
"""

from __future__ import annotations

import html
import math

import panel as pn

from dashboard.data.compute import method_colors
from dashboard.data.lorenz96_compute import LABELS_96, METHODS_96, SCORE_MARGIN, Experiment96
from dashboard.figures.lorenz96_plots import Lorenz96Figures
from dashboard.server.panel_compat import TextPane

NOTE = (
    '<div class="help">Lorenz-96: 40 variables on a circle, dt = 0.05 (20 steps = 1 time unit). Maps: variable '
    "(up) against time (across); the error map is blue where the analysis is below the truth and red above. "
    "Dashed: the free run; dotted: a solver that did not converge. Times: one warm call each (a compile is "
    "never counted).</div>"
)


def legend96_html(experiment: Experiment96 | None) -> str:
    colors = method_colors()
    items = [
        '<span class="legend-item"><span style="display:inline-block;width:22px;border-top:3px solid #000;'
        'vertical-align:middle"></span> truth</span>',
        '<span class="legend-item"><span style="color:#d62728;font-weight:bold">&#10005;</span> observations</span>',
    ]
    for name in METHODS_96:
        if experiment is None or name not in experiment.methods:
            continue
        dash = "dashed" if name == "free_run" else "solid"
        swatch = (
            f'<span style="display:inline-block;width:22px;border-top:3px {dash} {colors[name]};'
            'vertical-align:middle"></span>'
        )
        items.append(f'<span class="legend-item">{swatch} {html.escape(LABELS_96[name])}</span>')
    return '<div class="legend">' + " ".join(items) + "</div>" + NOTE


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def table96_html(experiment: Experiment96 | None) -> str:
    """The metrics table: RMSE over the window and over the steps core's study scores, steps, time."""
    if experiment is None:
        return "<p>No results yet.</p>"
    s, colors = experiment.settings, method_colors()
    head = (
        "<tr><th>method</th><th>RMSE<br>window</th>"
        f"<th>RMSE<br>steps {SCORE_MARGIN}..{s.window - SCORE_MARGIN}</th><th>time<br>(ms, warm)</th></tr>"
    )
    body = []
    for name, out in experiment.methods.items():
        solver = ""
        if out.num_steps is not None:
            css = "good" if out.converged else "bad"
            status = f'<span class="{css}">{html.escape(out.status)}</span>'
            solver = f'<br><small class="solver">{out.num_steps} steps, {status}</small>'
        body.append(
            f'<tr class="row-{name}"><td><span class="swatch" style="background:{colors[name]}"></span>'
            f"{html.escape(LABELS_96[name])}{solver}</td><td>{_fmt(out.rmse_window)}</td>"
            f"<td>{_fmt(out.rmse_scored)}</td><td>{_fmt(out.runtime_ms)}</td></tr>"
        )
    caption = (
        f"seed {s.seed}; 40 variables, truth F = 8, the methods' F = {s.model_forcing:g}; a share "
        f"{s.observed_share:g} observed every {s.obs_every} steps, noise variance {s.noise_variance:g}; "
        f"{s.window}-step window"
    )
    notes = "".join(f'<p class="bad note96">{html.escape(text)}</p>' for text in experiment.notes.values())
    return (
        f'<div class="table-scroll"><table class="metrics metrics96"><caption>{caption}</caption>{head}'
        f"{''.join(body)}</table></div>{notes}"
    )


class Explore96View:
    """The Lorenz-96 panes of one page (a plain holder: `ExploreView` lays them out and shows them)."""

    def __init__(self, state):
        self.state = state
        self.figures = Lorenz96Figures()
        self.maps_pane = pn.pane.Bokeh(self.figures.maps, sizing_mode="stretch_width", margin=(0, 5))
        self.lines_pane = pn.pane.Bokeh(self.figures.lines, sizing_mode="stretch_width", margin=(0, 5))
        self.legend = TextPane("", sizing_mode="stretch_width", margin=(0, 10))
        self.table = TextPane("", margin=(0, 10), sizing_mode="stretch_width")
        self.alert_column = pn.Column(
            self.legend, self.maps_pane, sizing_mode="stretch_width", styles={"flex": "3 1 560px", "min-width": "0"}
        )
        self.layout = pn.FlexBox(
            self.alert_column,
            pn.Column(
                self.lines_pane,
                self.table,
                sizing_mode="stretch_width",
                styles={"flex": "2 1 420px", "min-width": "0", "max-width": "640px"},
            ),
            flex_wrap="wrap",
            align_items="flex-start",
            sizing_mode="stretch_width",
        )

    def refresh(self, experiment: Experiment96 | None) -> None:
        self.figures.update(experiment, self.state.map_method, int(self.state.variable))
        self.legend.object = legend96_html(experiment)
        self.table.object = table96_html(experiment)
