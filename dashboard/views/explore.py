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

from dashboard.data.compute import Experiment, band_hidden_reason, drawn_items, method_colors, method_labels
from dashboard.data.export import PNG_JS, fmt, metrics_csv, metrics_rows, trajectories_csv
from dashboard.data.lorenz96_compute import Experiment96
from dashboard.data.seeds import N_SEEDS, many_seeds, many_seeds_html
from dashboard.figures import figure_pool, plots
from dashboard.server.panel_compat import TextPane
from dashboard.state.explore import ExperimentState

LEGEND_NOTE = (
    '<div class="help">Shaded yellow: the assimilation window. Light band around strong 4DVar: its &plusmn;2 '
    "standard deviations (its own estimate of its uncertainty, from the Gauss-Newton posterior), in the window "
    "and along the forecast, drawn only when 4DVar converged (elsewhere that estimate does not hold). "
    "RMSE plot: dotted, half the attractor's size (beyond it a forecast has lost its "
    "skill); dash-dot, each method's predictability time.</div>"
)


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
    return '<div class="legend">' + " ".join(items) + band_note(experiment, shown) + "</div>" + LEGEND_NOTE


def band_note(experiment: Experiment | None, shown) -> str:
    """One line saying why strong 4DVar's band is not drawn, where it is shown but its solve failed."""
    solved = None if experiment is None else experiment.methods.get(plots.BAND_METHOD)
    if solved is None or plots.BAND_METHOD not in shown:
        return ""
    reason = band_hidden_reason(solved, experiment.settings.max_steps)
    return f'<div class="band-note bad">{html.escape(reason)}</div>' if reason else ""


def table_html(experiment: Experiment | None, shown) -> str:
    """The metrics table; hidden methods are greyed, 4DVar's status is green or red."""
    if experiment is None:
        return "<p>No results yet.</p>"
    head = (
        "<tr><th>method</th><th>RMSE<br>window</th><th>RMSE<br>forecast</th><th>RMSE<br>total</th>"
        "<th>predict&shy;ability<br>time</th><th>time<br>(ms, warm)</th></tr>"
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
        # An iterative solver's steps and status under its name (keeps the table narrow enough to
        # sit beside the plots on a 1366 px laptop).
        solver = "" if row["steps"] is None else f'<br><small class="solver">{row["steps"]} steps, {status}</small>'
        tp = row["predictability_time"]
        tp_text = "end of run" if isinstance(tp, float) and math.isnan(tp) else fmt(tp)
        body.append(
            f'<tr class="row-{m}" style="opacity:{1.0 if m in shown else 0.45}">'
            f'<td><span class="swatch" style="background:{color}"></span>{html.escape(row["method"])}{solver}</td>'
            f"<td>{fmt(row['rmse_assim'])}</td><td>{fmt(row['rmse_forecast'])}</td>"
            f"<td>{fmt(row['rmse_total'])}</td><td>{tp_text}</td><td>{fmt(row['runtime_ms'])}</td></tr>"
        )
    caption = (
        f"seed {experiment.settings.seed}, {experiment.settings.preset} problem; "
        f"FourDVarNet: {html.escape(experiment.model_label)}"
    )
    compiled = compile_note(experiment)
    if compiled:
        caption += f"<br>{compiled}"
    return (
        f'<div class="table-scroll"><table class="metrics" data-name="{export_stem(experiment.settings)}">'
        f"<caption>{caption}</caption>{head}{''.join(body)}</table></div>"
    )


def compile_note(experiment: Experiment) -> str:
    """'compiled on first use: ...' when this result paid a JIT compile (never counted in the times)."""
    labels = method_labels()
    parts = [
        f"{labels[m]} {out.compile_ms / 1e3:.1f} s"
        for m, out in experiment.methods.items()
        if math.isfinite(out.compile_ms) and out.compile_ms >= 50.0
    ]
    if not parts:
        return ""
    return "Compiled for this server on first use (not in the times above): " + ", ".join(parts)


def export_stem(settings) -> str:
    """A file name stem that says what the file holds, e.g. l63_attractor_seed42_every5_noise0.5_xyz."""
    observed = "".join("xyz"[c] for c in settings.observed)
    return (
        f"l63_{settings.preset}_seed{settings.seed}_every{settings.obs_every}_noise{settings.obs_noise:g}"
        f"_{observed}_K{settings.n_steps}_cap{settings.max_steps}"
    )


class ExploreView(Viewer):
    """x(t), y(t), z(t), RMSE(t), the butterfly and the metrics table; export buttons."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, alert=None, **params):
        super().__init__(**params)
        self.alert = alert
        data = (self.lorenz63_experiment(), tuple(self.state.shown))
        self.figures = figure_pool.FIGURES.take()  # built ahead of time (warm-up), not per page
        self.figures.update(*data)
        self.time_pane = pn.pane.Bokeh(self.figures.grid, sizing_mode="stretch_width", margin=(0, 5))
        self.phase_pane = pn.pane.Bokeh(self.figures.phase, sizing_mode="stretch_width", margin=(0, 5))
        self.legend = TextPane(legend_html(*data), sizing_mode="stretch_width", margin=(0, 10))
        self.table = TextPane(table_html(*data), margin=(0, 10), sizing_mode="stretch_width")
        button = dict(sizing_mode="stretch_width", min_width=150, margin=(4, 5))
        self.csv = pn.widgets.FileDownload(
            callback=self._trajectories_csv, filename="l63_trajectories.csv", label="Trajectories (CSV)", **button
        )
        self.metrics_csv = pn.widgets.FileDownload(
            callback=self._metrics_csv, filename="l63_metrics.csv", label="Metrics (CSV)", **button
        )
        self.png = pn.widgets.Button(label="Figure (PNG)", **button)
        self.png.js_on_click(args={"legend": self.legend, "table": self.table}, code=PNG_JS)
        self.seeds_button = pn.widgets.Button(
            label=f"Run on {N_SEEDS} seeds", button_type="primary", button_style="outline", **button
        )
        self.seeds_button.on_click(self._run_seeds)
        self.seeds = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10), visible=False)
        self._name_files()
        self.lorenz96 = None  # its panes, built when this page first shows Lorenz-96 (`explore96.py`)
        self._lorenz96_holder = pn.Column(sizing_mode="stretch_width", visible=False)
        self._lorenz63_layout = None
        if isinstance(self.state.experiment, Experiment96):
            self.refresh()

    def lorenz63_experiment(self) -> Experiment | None:
        """The state's experiment when it is a Lorenz-63 one (None while Lorenz-96 is shown)."""
        experiment = self.state.experiment
        return None if isinstance(experiment, Experiment96) else experiment

    def _name_files(self):
        experiment = self.lorenz63_experiment()
        if experiment is not None:
            stem = export_stem(experiment.settings)
            self.csv.filename = f"{stem}_trajectories.csv"
            self.metrics_csv.filename = f"{stem}_metrics.csv"

    def _run_seeds(self, event=None):
        """Run the shown methods on N_SEEDS problems with these settings; show medians and p10-p90."""
        self.seeds_button.loading = True
        try:
            settings = self.state.settings()
            self.seeds.object = many_seeds_html(settings, many_seeds(settings))
            self.seeds.visible = True
        except ValueError as exc:
            self.seeds.object = f"<p class='bad'>These settings cannot be used: {html.escape(str(exc))}</p>"
            self.seeds.visible = True
        finally:
            self.seeds_button.loading = False

    # The files are named when they are asked for (Panel reads `filename` after the callback), not
    # on every redraw: two fewer changes to send per slider move.
    def _trajectories_csv(self):
        self._name_files()
        return io.StringIO(trajectories_csv(self.state.experiment))

    def _metrics_csv(self):
        self._name_files()
        return io.StringIO(metrics_csv(self.state.experiment))

    def refresh(self):
        """Push the state's experiment into the plots and the table, in one batch of messages."""
        if isinstance(self.state.experiment, Experiment96):
            self._refresh_lorenz96()
            return
        data = (self.state.experiment, tuple(self.state.shown))
        with pn.io.hold():
            self._show_system("lorenz63")
            self.figures.update(*data)
            self.legend.object = legend_html(*data)
            self.table.object = table_html(*data)
            if self.seeds.visible:  # the statistics were for other settings
                self.seeds.visible = False

    def _refresh_lorenz96(self):
        from dashboard.views.explore96 import Explore96View

        with pn.io.hold():
            if self.lorenz96 is None:
                self.lorenz96 = Explore96View(self.state)
                self._lorenz96_holder.objects = [self.lorenz96.layout]
            self.lorenz96.refresh(self.state.experiment)
            self._show_system("lorenz96")

    def _place_alert(self, column) -> None:
        """Move the alert (refusals, failures) into the column that is shown: it is one pane per page."""
        if self.alert is None or column is None or self.alert in column.objects:
            return
        for other in (getattr(self, "_left", None), getattr(self.lorenz96, "alert_column", None)):
            if other is not None and self.alert in other.objects:
                other.objects = [o for o in other.objects if o is not self.alert]
        column.objects = [self.alert, *column.objects]

    def _show_system(self, system: str) -> None:
        lorenz96 = system == "lorenz96"
        self._place_alert(self.lorenz96.alert_column if lorenz96 else getattr(self, "_left", None))
        if self._lorenz96_holder.visible != lorenz96:
            self._lorenz96_holder.visible = lorenz96
        if self._lorenz63_layout is not None and self._lorenz63_layout.visible == lorenz96:
            self._lorenz63_layout.visible = not lorenz96

    def set_presentation(self, on: bool):
        """Larger text and thicker lines (a projector)."""
        with pn.io.hold():
            self.figures.set_presentation(on, self.lorenz63_experiment(), tuple(self.state.shown))

    def __panel__(self):
        # Two flex items that sit side by side when there is room (a laptop, a projector) and
        # wrap, the butterfly and the table under the time plots, when there is not (a phone, a
        # tablet); every plot stretches to its item's width, so nothing overlaps at any width.
        left = [self.legend, self.time_pane] if self.alert is None else [self.alert, self.legend, self.time_pane]
        exports = pn.FlexBox(
            self.png, self.csv, self.metrics_csv, self.seeds_button, flex_wrap="wrap", sizing_mode="stretch_width"
        )
        self._left = pn.Column(*left, sizing_mode="stretch_width", styles={"flex": "3 1 560px", "min-width": "0"})
        self._lorenz63_layout = pn.FlexBox(
            self._left,
            pn.Column(
                self.phase_pane,
                self.table,
                exports,
                self.seeds,
                sizing_mode="stretch_width",
                styles={"flex": "1 1 420px", "min-width": "0", "max-width": "640px"},
            ),
            flex_wrap="wrap",
            align_items="flex-start",
            sizing_mode="stretch_width",
            visible=not isinstance(self.state.experiment, Experiment96),
        )
        if self.lorenz96 is not None:
            self._place_alert(self.lorenz96.alert_column)
        return pn.Column(self._lorenz63_layout, self._lorenz96_holder, sizing_mode="stretch_width")
