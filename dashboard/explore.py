"""The Explore tab: x(t), y(t), z(t), RMSE(t), the butterfly, the metrics table and the exports.

The figures (`plots.ExploreFigures`) are drawn once per session and then patched in place under
`pn.io.hold()`; the legend and the table are HTML rewritten on every change.
"""

from __future__ import annotations

import html
import io
import math

import panel as pn
import param
from panel.viewable import Viewer

from . import plots
from .compute import Experiment, drawn_items, method_colors, method_labels
from .export import PNG_JS, fmt, metrics_csv, metrics_rows, trajectories_csv
from .state import ExperimentState


def legend_html(experiment: Experiment | None, shown) -> str:
    """The shown methods' swatches; a solver that did not converge says so (it is drawn dotted)."""
    items = []
    colors, labels = method_colors(), method_labels()
    for m in drawn_items():
        if m not in shown:
            continue
        color = colors[m]
        if m == "observations":
            swatch = f'<span style="color:{color};font-weight:bold">&#10005;</span>'
        else:
            dash = "dashed" if m == "free_run" else "solid"
            swatch = (
                f'<span style="display:inline-block;width:22px;border-top:3px {dash} {color};'
                f'vertical-align:middle"></span>'
            )
        label = labels[m]
        solved = None if experiment is None else experiment.methods.get(m)
        if solved is not None and solved.converged is False:
            label += " (NOT converged: dotted)"
        items.append(f'<span class="legend-item">{swatch} {html.escape(label)}</span>')
    return '<div class="legend">' + " ".join(items) + "</div>"


def table_html(experiment: Experiment | None, shown) -> str:
    """The metrics table; hidden methods are greyed, 4DVar's status is green or red."""
    if experiment is None:
        return "<p>No results yet.</p>"
    head = (
        "<tr><th>method</th><th>RMSE window</th><th>RMSE forecast</th><th>RMSE total</th>"
        "<th>skill until t =</th><th>time (ms)</th><th>solver</th></tr>"
    )
    body = []
    colors = method_colors()
    for m, row in zip(experiment.methods, metrics_rows(experiment), strict=True):
        color = colors[m]
        status = html.escape(row["status"])
        if row["converged"] is False:
            status = f'<span class="bad">{status}</span>'
        elif row["converged"]:
            status = f'<span class="good">{status}</span>'
        tp = row["predictability_time"]
        tp_text = "end of run" if isinstance(tp, float) and math.isnan(tp) else fmt(tp)
        body.append(
            f'<tr class="row-{m}" style="opacity:{1.0 if m in shown else 0.45}">'
            f'<td><span class="swatch" style="background:{color}"></span>{html.escape(row["method"])}</td>'
            f"<td>{fmt(row['rmse_assim'])}</td><td>{fmt(row['rmse_forecast'])}</td>"
            f"<td>{fmt(row['rmse_total'])}</td><td>{tp_text}</td><td>{fmt(row['runtime_ms'])}</td>"
            f"<td>{'-' if row['steps'] is None else str(row['steps']) + ' steps, '}{status}</td></tr>"
        )
    caption = (
        f"seed {experiment.settings.seed}, {experiment.settings.preset} problem; "
        f"FourDVarNet: {html.escape(experiment.model_label)}"
    )
    return f'<table class="metrics"><caption>{caption}</caption>{head}{"".join(body)}</table>'


class ExploreView(Viewer):
    """x(t), y(t), z(t), RMSE(t), the butterfly and the metrics table; export buttons."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, alert=None, **params):
        super().__init__(**params)
        self.alert = alert
        data = (self.state.experiment, tuple(self.state.shown))
        self.figures = plots.ExploreFigures()
        self.figures.update(*data)
        self.time_pane = pn.pane.Bokeh(self.figures.grid, margin=(0, 5))
        self.phase_pane = pn.pane.Bokeh(self.figures.phase)
        self.legend = pn.pane.HTML(legend_html(*data), sizing_mode="stretch_width", margin=(0, 10))
        self.table = pn.pane.HTML(table_html(*data), margin=(0, 10), css_classes=["table-pane"])
        self.csv = pn.widgets.FileDownload(
            callback=self._trajectories_csv,
            filename="l63_trajectories.csv",
            label="Download trajectories (CSV)",
            width=230,
        )
        self.metrics_csv = pn.widgets.FileDownload(
            callback=self._metrics_csv, filename="l63_metrics.csv", label="Download metrics (CSV)", width=200
        )
        self.png = pn.widgets.Button(label="Download figure (PNG)", width=200)
        self.png.js_on_click(code=PNG_JS)

    def _trajectories_csv(self):
        return io.StringIO(trajectories_csv(self.state.experiment))

    def _metrics_csv(self):
        return io.StringIO(metrics_csv(self.state.experiment))

    def refresh(self):
        """Push the state's experiment into the plots and the table, in one batch of messages."""
        data = (self.state.experiment, tuple(self.state.shown))
        with pn.io.hold():
            self.figures.update(*data)
            self.legend.object = legend_html(*data)
            self.table.object = table_html(*data)

    def __panel__(self):
        left = [self.legend, self.time_pane] if self.alert is None else [self.alert, self.legend, self.time_pane]
        return pn.Row(
            pn.Column(*left),
            pn.Column(
                self.phase_pane,
                self.table,
                pn.Row(self.png, self.csv, self.metrics_csv, styles={"flex-wrap": "wrap"}),
                width=460,
            ),
        )
