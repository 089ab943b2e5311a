"""The Cycle tab: cycled data assimilation, ensembles and their spread, animated cycle by cycle.

A thin view over `CycleState` (`cycle_state.py`): its sliders are built from the state's parameters
(throttled: a run starts when a slider is released), each change runs the cycle through
`cycle_data` (memoised across sessions), and the figures (`cycle_figures.py`) are patched in place.
The Player moves a window over the data already computed: playing never recomputes anything.
On Lorenz-96 (the System choice) the animated window gives way to a space-time map of the analysis
error, one variable's series and rmse_a per cycle (`cycle96_plots.py`).
Built lazily: nothing (no state run, no figure) exists until the tab is first opened.
"""

from __future__ import annotations

import html
import logging
import math

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.data.cycle_data import (
    colour,
    error_columns,
    label,
    method_window,
    truth_window,
    value_ranges,
    window_bounds,
    window_cycles,
)
from dashboard.figures.cycle_figures import (
    EMPTY_METHOD,
    OBS_COLOR,
    RMSE_FLOOR,
    TRUTH_COLOR,
    error_figure,
    window_figures,
)
from dashboard.server.refusal import Refusals
from dashboard.state.cycle import CycleState
from dashboard.state.settings import slider_specs
from dashboard.views.controls import ChoiceSlider
from dashboard.views.cycle96_plots import Lorenz96Plots

log = logging.getLogger(__name__)

INTRO = """
### Cycling: analyse, forecast, analyse again

A forecaster does not assimilate once: every time new observations arrive, the last analysis,
carried forward by the model, is the **background** of the next analysis. Press **play** to watch
a thousand such cycles: between observations (red crosses) each method's forecast drifts away from
the truth (black) and its error grows; at each observation the analysis pulls it back. The shaded
band is the method's **spread** (the ensemble's standard deviation): a well-tuned ensemble's
spread is about as large as its error.

On **Lorenz-96** (40 variables) an ensemble smaller than the state needs **localisation**: the
LETKF analyses each variable with the observations near it only. **Model error**: the methods may
forecast with another rho (or F) than the truth's, and the truth may get random kicks (Q) that no
model knows; weak 4DVar lets its model err by q.
"""
TABLE_NOTE = (
    "rmse_a: the analysis error averaged over the cycles after the burn-in (grey), +- its standard "
    "error; spread/error near 1: the ensemble knows how wrong it is. Scored as DAPPER does."
)
PLAYER_INTERVAL_MS = 150


def legend_html(methods) -> str:
    items = [
        f'<span class="legend-item"><span class="swatch" style="background:{TRUTH_COLOR}"></span>truth</span>',
        f'<span class="legend-item"><span style="color:{OBS_COLOR};font-weight:bold">&#10005;</span> '
        "observations</span>",
    ]
    for name in methods:
        items.append(
            f'<span class="legend-item"><span class="swatch" style="background:{colour(name)}"></span>'
            f"{html.escape(label(name))}</span>"
        )
    return '<div class="legend">' + " ".join(items) + "</div>"


def _fmt(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3g}"


def scores_table(runs: dict, burn_in: int, n_cycles: int, timed: bool = False) -> str:
    """The per-method scores as an HTML table (3 significant figures); `timed`: with ms/cycle."""
    rows = []
    for name, run in runs.items():
        s = run.scores
        flag = ' <span class="bad">diverged</span>' if s["diverged"] else ""
        rows.append(
            f'<tr><td><span class="swatch" style="background:{colour(name)}"></span>'
            f"{html.escape(label(name))}{flag}</td>"
            f"<td>{_fmt(s['rmse_a'])} <small>+- {_fmt(s['rmse_a_stderr'])}</small></td>"
            f"<td>{_fmt(s['rmse_f'])}</td><td>{_fmt(s['spread_a'])}</td><td>{_fmt(s['spread_error_ratio'])}</td>"
            + (f"<td>{_fmt(run.ms_per_cycle)}</td>" if timed else "")
            + "</tr>"
        )
    return (
        '<div class="table-scroll"><table class="metrics"><caption>'
        f"{html.escape(TABLE_NOTE)} Scored over cycles {burn_in + 1}..{n_cycles} ({n_cycles - burn_in} cycles)."
        "</caption><tr><th>method</th><th>rmse_a</th><th>rmse_f</th><th>spread_a</th><th>spread/error</th>"
        + ("<th>ms/cycle</th>" if timed else "")
        + "</tr>"
        + "".join(rows)
        + "</table></div>"
    )


class CycleView(Viewer):
    """Sliders, a Player, the animated window, the whole run's errors, and the scores."""

    state = param.ClassSelector(class_=CycleState, default=None)

    def __init__(self, lazy: bool = False, **params):
        super().__init__(**params)
        self.layout = pn.Column(sizing_mode="stretch_width")
        self.loaded = False
        if not lazy:
            self.ensure_loaded()

    def ensure_loaded(self) -> None:
        """Run the default experiment and build the figures, once (the tab was opened)."""
        if self.loaded:
            return
        self.loaded = True
        if self.state is None:
            self.state = CycleState()
        state = self.state
        if state.truth is None:  # a deferred state (the page's, kept in its URL): its first run
            state.activate()
        # A slider for each numeric setting (its label, bounds and step from the state's parameter).
        self.widgets = {
            name: (pn.widgets.IntSlider if spec.integer else pn.widgets.FloatSlider).from_param(
                state.param[name], throttled=True, width=220
            )
            for name, spec in slider_specs(CycleState).items()
        }
        for name in ("model_rho", "model_forcing"):  # their labels name the truth's value: room for it
            self.widgets[name].width = 300
        # One Bokeh slider over the offered sizes (a DiscreteSlider is three models, its slider private).
        self.ensemble_size = ChoiceSlider(state, "ensemble_size", width=220)
        self.widgets["ensemble_size"] = self.ensemble_size._slider
        self.widgets["n_cycles"] = pn.widgets.RadioButtonGroup.from_param(state.param.n_cycles, width=220)
        self.widgets["system"] = pn.widgets.RadioButtonGroup.from_param(
            state.param.system, button_type="primary", button_style="outline", width=360
        )
        self.widgets["methods"] = pn.widgets.CheckButtonGroup.from_param(
            state.param.methods, sizing_mode="stretch_width"
        )
        self.player = pn.widgets.Player(
            start=0, end=1, value=0, interval=PLAYER_INTERVAL_MS, loop_policy="once",
            show_loop_controls=False, width=360, margin=(5, 10),
        )  # fmt: skip
        self.cycle_label = pn.pane.HTML("", margin=(5, 10))
        self.figures, self.sources, self.now, self.renderers = window_figures()
        self.errors, self.error_sources, self.error_now, self.error_box, self.burn_box, self.error_renderers = (
            error_figure()
        )
        self.legend = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10), max_width=760)
        self.alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        # Every value the browser sends is checked before it is applied (refusal.py).
        self.refusals = Refusals()
        self.lorenz96 = Lorenz96Plots(self.refusals)
        for name, widget in self.widgets.items():
            positions = self.ensemble_size.values if name == "ensemble_size" else None
            self.refusals.guard(widget, state, name, positions=positions, what="the sizes " * bool(positions))
        player_bounds = lambda: (self.player.start, self.player.end)  # noqa: E731 - the run's cycles, as shown
        self.refusals.guard(self.player, self.player, "value", bounds=player_bounds, label="Cycle")
        self.player.param.watch(self._on_player, "value")
        state.param.watch(self._on_result, ["runs", "truth"])
        state.param.watch(self._on_error, "error")
        state.param.watch(self._on_system, "system")
        controls = pn.FlexBox(
            *(self.widgets[n] for n in ("obs_every", "obs_noise", "ensemble_size", "inflation")),
            *(self.widgets[n] for n in ("localisation_radius", "lag", "seed")),
            pn.Column(pn.pane.HTML('<div class="help">Cycles</div>', margin=(0, 10)), self.widgets["n_cycles"]),
            sizing_mode="stretch_width",
        )
        model_error = pn.FlexBox(
            pn.pane.HTML('<div class="help"><b>Model error</b></div>', margin=(0, 10), width=100),
            *(self.widgets[n] for n in ("model_rho", "model_forcing", "model_noise", "model_error_q")),
            sizing_mode="stretch_width",
        )
        # Lorenz-63's animated window, or Lorenz-96's map, series and rmse_a (one is shown).
        self.lorenz63 = pn.Column(
            pn.Row(self.player, self.cycle_label),
            self.legend,
            pn.Column(
                *(pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.figures), sizing_mode="stretch_width"
            ),
            pn.pane.Bokeh(self.errors, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        self.layout[:] = [
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width", max_width=1100),
            self.refusals.banner,
            self.widgets["system"],
            self.widgets["methods"],
            controls,
            model_error,
            self.alert,
            self.lorenz63,
            self.lorenz96.layout,
            self.table,
        ]
        self._on_system()
        self._on_error()
        self.redraw(reset_player=True)

    # -- events -----------------------------------------------------------------------------

    def _on_error(self, *events):
        self.alert.param.update(object=self.state.error, visible=bool(self.state.error))

    def _on_result(self, *events):
        try:
            self.redraw(reset_player=False)
        except Exception:  # noqa: BLE001 - the page keeps working
            log.exception("redrawing the Cycle tab failed")
            self.alert.param.update(object="The plots could not be redrawn; try other settings.", visible=True)

    def _on_system(self, *events):
        """Show the chosen system's controls and plots (the values were set by the state)."""
        lorenz96 = self.state.system == "lorenz96"
        self.widgets["localisation_radius"].visible = lorenz96
        self.widgets["model_rho"].visible = not lorenz96
        self.widgets["model_forcing"].visible = lorenz96
        self.lorenz63.visible = not lorenz96
        self.lorenz96.layout.visible = lorenz96

    def _on_player(self, event):
        self.show_cycle(event.new)

    # -- drawing ----------------------------------------------------------------------------

    def redraw(self, reset_player: bool) -> None:
        """Push a new run into every figure (the window keeps its cycle, clipped to the run)."""
        truth, runs = self.state.truth, self.state.runs
        if truth is None:
            return
        n = len(truth.t_obs)
        if self.state.system == "lorenz96":
            with pn.io.hold():
                self.lorenz96.redraw(truth, runs)
                self.lorenz96.legend.object = legend_html(runs)
                self.table.object = scores_table(runs, truth.burn_in, n, timed=True)
            return
        index = min(self.player.value, n - 1)
        if reset_player:  # start with a full window, the burn-in's large errors in view
            index = min(n - 1, window_cycles(truth))
        with pn.io.hold():
            self.player.param.update(end=n - 1, value=index)
            for group in (self.renderers, self.error_renderers):
                for name, renderers in group.items():
                    for r in renderers:
                        r.visible = name in runs
            for name, src in self.error_sources.items():
                empty = {"t": [], "error": [], "spread": []}
                src.data = error_columns(runs[name], truth, RMSE_FLOOR) if name in runs else empty
            self.errors.x_range.update(start=0, end=float(truth.t_obs[-1]))
            for fig, (low, high) in zip(
                self.figures[:3], value_ranges(truth), strict=True
            ):  # fixed: the animation does not jump
                fig.y_range.update(start=low, end=high)
            burn_end = float(truth.t_obs[truth.burn_in - 1]) if truth.burn_in > 0 else 0.0
            self.burn_box.update(left=0, right=burn_end)
            self.legend.object = legend_html(runs)
            self.table.object = scores_table(runs, truth.burn_in, n)
            self.show_cycle(index)

    def show_cycle(self, index: int) -> None:
        """Slide the window to end at analysis `index`: slices of what is computed, nothing more."""
        truth, runs = self.state.truth, self.state.runs
        if truth is None or self.state.system != "lorenz63":
            return
        start, end = window_bounds(truth, index)
        line, points = truth_window(truth, start, end)
        with pn.io.hold():
            self.sources["truth"].data = line
            self.sources["obs"].data = points
            for name, src in self.sources.items():
                if name in ("truth", "obs"):
                    continue
                src.data = method_window(runs[name], start, end) if name in runs else dict(EMPTY_METHOD)
            self.figures[0].x_range.update(start=start, end=max(end, start + 0.1))
            self.now.location = end
            self.error_now.location = end
            self.error_box.update(left=start, right=end)
            self.cycle_label.object = (
                f'<div class="help">cycle {int(index) + 1} of {len(truth.t_obs)}, time {end:.2f}</div>'
            )

    def __panel__(self):
        return self.layout
