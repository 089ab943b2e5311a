"""The page: thin `Viewer`s over `ExperimentState`. Widgets are made per session, never as class
attributes; plots are drawn once and then patched in place under `pn.io.hold()`."""

from __future__ import annotations

import html
import io
import logging
import math
import time

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

import core

from . import plots
from .compute import (
    METHOD_COLORS,
    METHOD_LABELS,
    METHODS,
    SOLVED_METHODS,
    Experiment,
)
from .jobs import BackgroundJob
from .models import registry
from .state import ExperimentState

log = logging.getLogger(__name__)

SIDEBAR_WIDTH = 290


def fmt(value, digits: int = 3) -> str:
    """3 significant figures; '-' for missing or not-a-number."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


# ---------------------------------------------------------------------------------------------
# Controls


def bind(widget, state: param.Parameterized, name: str, *, throttled: bool = False, on_error=None, convert=lambda v: v):
    """Link `widget` and `state.name` both ways. A refused value (out of bounds, e.g. crafted in
    the browser) is reported through `on_error` and the widget snaps back to the state's value."""
    source = "value_throttled" if throttled and hasattr(widget, "value_throttled") else "value"
    syncing = [False]

    def to_state(event):
        if syncing[0]:
            return
        try:
            setattr(state, name, convert(event.new))
        except ValueError as exc:
            if on_error is not None:
                on_error(f"That value was refused: {exc}")
            syncing[0] = True
            try:
                widget.value = getattr(state, name)
            finally:
                syncing[0] = False

    def to_widget(event):
        syncing[0] = True
        try:
            widget.value = event.new
        finally:
            syncing[0] = False

    widget.param.watch(to_state, source)
    state.param.watch(to_widget, name)
    return widget


def slider(widget_cls, state: param.Parameterized, parameter: str, *, on_error=None, **extra):
    """A `widget_cls` slider for `state.<parameter>`, bound to it (throttled): its label, bounds (or a
    selector's options) and step come from the parameter, `extra` overrides or adds options."""
    spec = state.param[parameter]
    kwargs = {"name": spec.label}
    if isinstance(spec, param.Selector):
        kwargs["options"] = list(spec.objects)
    if getattr(spec, "bounds", None) is not None:
        kwargs.update(start=spec.bounds[0], end=spec.bounds[1])
    if getattr(spec, "step", None) is not None:
        kwargs["step"] = spec.step
    kwargs.update(value=getattr(state, parameter), sizing_mode="stretch_width", **extra)
    return bind(widget_cls(**kwargs), state, parameter, throttled=True, on_error=on_error)


def button_group(widget_cls, state: param.Parameterized, parameter: str, *, on_error=None, **extra):
    """A `widget_cls` button group for the selector `state.<parameter>`, bound to it: its label and
    options come from the parameter, `extra` overrides or adds options."""
    spec = state.param[parameter]
    value = getattr(state, parameter)
    kwargs = {
        "name": spec.label,
        "options": list(spec.objects),
        "value": list(value) if isinstance(value, list) else value,
        "button_type": "primary",
        "button_style": "outline",
        "sizing_mode": "stretch_width",
        **extra,
    }
    return bind(widget_cls(**kwargs), state, parameter, on_error=on_error)


class Controls(Viewer):
    """The sidebar: every setting of the experiment, with a one-line help under each."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, on_error=None, **params):
        super().__init__(**params)
        s = self.state
        p = s.param
        self.preset = button_group(pn.widgets.RadioButtonGroup, s, "preset", name="Problem", on_error=on_error)
        self.obs_every = slider(pn.widgets.IntSlider, s, "obs_every", on_error=on_error)
        self.observed = button_group(pn.widgets.CheckButtonGroup, s, "observed", on_error=on_error)
        self.obs_noise = slider(pn.widgets.FloatSlider, s, "obs_noise", on_error=on_error)
        self.n_steps = slider(pn.widgets.IntSlider, s, "n_steps", on_error=on_error)
        self.max_steps = slider(pn.widgets.DiscreteSlider, s, "max_steps", on_error=on_error)
        self.seed = slider(pn.widgets.IntSlider, s, "seed", on_error=on_error)
        self.new_problem = pn.widgets.Button(
            label="New problem (random seed)", button_type="primary", sizing_mode="stretch_width"
        )
        self.new_problem.on_click(lambda event: s.new_problem())
        self.model = pn.widgets.Select(
            name=p.model.label, options=dict(p.model.names), value=s.model, sizing_mode="stretch_width"
        )
        bind(self.model, s, "model", on_error=on_error)
        self.shown = bind(
            pn.widgets.CheckBoxGroup(
                name=p.shown.label, options={METHOD_LABELS[m]: m for m in METHODS}, value=list(s.shown), inline=False
            ),
            s,
            "shown",
            on_error=on_error,
        )

    def sync_model_options(self):
        """Show the state's current list of models in the selector."""
        options = dict(self.state.param.model.names)
        if options != self.model.options:
            self.model.options = options
            self.model.value = self.state.model

    @staticmethod
    def _help(text):
        return pn.pane.HTML(
            f'<div class="help">{html.escape(text)}</div>', margin=(-8, 10, 4, 10), sizing_mode="stretch_width"
        )

    def __panel__(self):
        p = self.state.param
        return pn.Column(
            pn.pane.HTML("<b>Problem</b>", margin=(4, 10, 0, 10)),
            self.preset,
            self._help(p.preset.doc),
            self.obs_every,
            self._help(p.obs_every.doc),
            pn.pane.HTML(f"<b>{p.observed.label}</b>", margin=(4, 10, 0, 10)),
            self.observed,
            self._help(p.observed.doc),
            self.obs_noise,
            self._help(p.obs_noise.doc),
            self.seed,
            self.new_problem,
            self._help(p.seed.doc),
            pn.pane.HTML("<b>Methods</b>", margin=(8, 10, 0, 10)),
            self.max_steps,
            self._help(p.max_steps.doc),
            self.n_steps,
            self._help(p.n_steps.doc),
            self.model,
            self._help(p.model.doc),
            pn.pane.HTML(f"<b>{p.shown.label}</b>", margin=(8, 10, 0, 10)),
            self.shown,
            width=SIDEBAR_WIDTH,
            styles={"background": "#f7f7f9"},
            css_classes=["controls"],
        )


# ---------------------------------------------------------------------------------------------
# Explore


def legend_html(experiment: Experiment | None, shown) -> str:
    items = []
    for m in METHODS:
        if m not in shown:
            continue
        color = METHOD_COLORS[m]
        if m == "observations":
            swatch = f'<span style="color:{color};font-weight:bold">&#10005;</span>'
        else:
            dash = "dashed" if m == "free_run" else "solid"
            swatch = (
                f'<span style="display:inline-block;width:22px;border-top:3px {dash} {color};'
                f'vertical-align:middle"></span>'
            )
        label = METHOD_LABELS[m]
        if m == "strong_4dvar" and experiment is not None and not experiment.methods[m].converged:
            label += " (NOT converged: dotted)"
        items.append(f'<span class="legend-item">{swatch} {html.escape(label)}</span>')
    return '<div class="legend">' + " ".join(items) + "</div>"


def metrics_rows(experiment: Experiment) -> list[dict]:
    rows = []
    for m in SOLVED_METHODS:
        out = experiment.methods[m]
        label = METHOD_LABELS[m]
        if m == "fourdvarnet":
            label += f" (K={experiment.settings.n_steps})"
        rows.append(
            {
                "method": label,
                "rmse_assim": out.rmse_assim,
                "rmse_forecast": out.rmse_forecast,
                "rmse_total": out.rmse_total,
                "predictability_time": out.predictability_time,
                "runtime_ms": out.runtime_ms,
                "steps": out.num_steps,
                "status": out.status if out.status is not None else "",
                "converged": out.converged,
            }
        )
    return rows


def table_html(experiment: Experiment | None, shown) -> str:
    if experiment is None:
        return "<p>No results yet.</p>"
    head = (
        "<tr><th>method</th><th>RMSE window</th><th>RMSE forecast</th><th>RMSE total</th>"
        "<th>skill until t =</th><th>time (ms)</th><th>4DVar solve</th></tr>"
    )
    body = []
    for m, row in zip(SOLVED_METHODS, metrics_rows(experiment), strict=True):
        color = METHOD_COLORS[m]
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


def trajectories_csv(experiment: Experiment) -> str:
    """t, truth, observations (blank where none) and each method's trajectory, one row per time."""
    cols = {"t": experiment.t}
    for c, name in enumerate("xyz"):
        cols[f"truth_{name}"] = experiment.truth[:, c]
    n = experiment.t.shape[0]
    for c, name in enumerate("xyz"):
        obs = np.full(n, np.nan)
        idx = np.rint(experiment.obs_t[c] / (experiment.t[1] - experiment.t[0])).astype(int)
        obs[idx] = experiment.obs_values[c]
        cols[f"obs_{name}"] = obs
    for m in SOLVED_METHODS:
        for c, name in enumerate("xyz"):
            cols[f"{m}_{name}"] = experiment.methods[m].trajectory[:, c]
        cols[f"{m}_rmse"] = experiment.methods[m].rmse_trace
    out = io.StringIO()
    s = experiment.settings
    out.write(
        f"# preset={s.preset} obs_every={s.obs_every} obs_noise={s.obs_noise} "
        f"observed={''.join('xyz'[c] for c in s.observed)} seed={s.seed} K={s.n_steps} "
        f"max_steps={s.max_steps} model={s.model}\n"
    )
    out.write(",".join(cols) + "\n")
    table = np.column_stack(list(cols.values()))
    for row in table:
        out.write(",".join("" if not np.isfinite(v) else f"{v:.6g}" for v in row) + "\n")
    return out.getvalue()


def metrics_csv(experiment: Experiment) -> str:
    rows = metrics_rows(experiment)
    keys = list(rows[0])
    out = io.StringIO()
    out.write(",".join(keys) + "\n")
    for row in rows:
        out.write(",".join("" if row[k] is None else str(row[k]) for k in keys) + "\n")
    return out.getvalue()


PNG_JS = """
const view = Bokeh.index.query_one((v) => v.model.type == "GridPlot");
if (view == null) { return; }
view.export("png").to_blob().then((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "l63_explore.png";
  document.body.appendChild(link);
  link.click();
  link.remove();
});
"""


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


# ---------------------------------------------------------------------------------------------
# Train


class _TrainingJob(BackgroundJob):
    """One training run in a background thread (one at a time per server process: 2 CPU cores)."""

    what = "training"
    thread_name = "l63-training"
    logger = log

    def __init__(self, config: core.TrainingConfig):
        self.config = config
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.entry = None
        super().__init__()

    def _callback(self, step, loss):
        self.steps.append(step)
        self.losses.append(loss)

    def work(self):
        model, report = core.fit(self.config, callback=self._callback)
        final = float(np.mean(report.losses[-10:])) if report.losses else float("nan")
        if not math.isfinite(final):
            raise FloatingPointError("the training loss became not-a-number")
        info = {
            "final_loss": final,
            "train_time_s": report.train_time_s,
            "compile_s": report.compile_s,
            "trained_by": "dashboard",
        }
        self.entry = registry.save_trained(model, self.config, info)


class TrainView(Viewer):
    """Train a FourDVarNet on the current settings, watch the loss fall, then use the model."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, on_trained=None, **params):
        super().__init__(**params)
        self.on_trained = on_trained
        self.n_problems = pn.widgets.IntSlider(
            name="Training problems per step (batch)", start=8, end=128, step=8, value=32, width=320
        )
        self.n_train_steps = pn.widgets.IntSlider(
            name="Training steps", start=20, end=1000, step=10, value=200, width=320
        )
        self.button = pn.widgets.Button(label="Train on the current settings", button_type="primary", width=320)
        self.button.on_click(self._start)
        self.progress = pn.indicators.Progress(value=0, max=100, width=320, bar_color="primary", visible=False)
        self.status = pn.pane.HTML("", sizing_mode="stretch_width")
        self.loss_pipe = hv.streams.Pipe(data=([], []))
        self.loss_pane = pn.pane.HoloViews(hv.DynamicMap(plots.loss_plot, streams=[self.loss_pipe]), linked_axes=False)
        self.job: _TrainingJob | None = None
        self._poll = None
        self._shown_points = 0
        self.describe()
        self.state.param.watch(lambda e: self.describe(), ["preset", "obs_every", "observed", "obs_noise"])

    def config(self) -> core.TrainingConfig:
        s = self.state.settings()
        return core.TrainingConfig(
            preset=s.preset,
            obs_every=(s.obs_every,),
            obs_noise=(s.obs_noise,),
            observed=(s.observed,),
            steps=int(self.n_train_steps.value),
            batch_size=int(self.n_problems.value),
            seed=int(time.time()) % 10_000,
        )

    def describe(self):
        if self.job is not None and not self.job.done:
            return
        try:
            label = self.config().label()
        except ValueError as exc:
            label = f"(not possible: {exc})"
        self.status.object = (
            f"<p>Will train on: <b>{html.escape(label)}</b>. The model is saved in "
            f"<code>{html.escape(str(registry.user_dir))}</code> and appears in the "
            f"model list of every view.</p>"
        )

    def _start(self, event=None):
        try:
            config = self.config()
        except ValueError as exc:
            self.status.object = f'<p class="bad">{html.escape(str(exc))}</p>'
            return
        job = _TrainingJob.start(config)
        if job is None:
            self.status.object = (
                '<p class="bad">Another training is running on this server; try again when it has finished.</p>'
            )
            return
        self.job = job
        self._shown_points = 0
        self.button.disabled = True
        self.progress.param.update(value=0, max=config.steps, visible=True)
        self.status.object = (
            f"<p>Training on <b>{html.escape(config.label())}</b>... (the first step compiles, a few seconds)</p>"
        )
        self.loss_pipe.send(([], []))
        self._poll = pn.state.add_periodic_callback(self._update, period=400)

    def _update(self):
        job = self.job
        if job is None:
            return
        n = len(job.losses)
        with pn.io.hold():
            if n != self._shown_points:
                self._shown_points = n
                self.progress.value = min(n, job.config.steps)
                self.loss_pipe.send((list(job.steps[:n]), list(job.losses[:n])))
                elapsed = time.perf_counter() - job.started
                self.status.object = (
                    f"<p>Training on <b>{html.escape(job.config.label())}</b>: "
                    f"step {n} of {job.config.steps}, loss {fmt(job.losses[n - 1])}, "
                    f"{elapsed:.0f} s</p>"
                )
            if job.done:
                if self._poll is not None:
                    self._poll.stop()
                    self._poll = None
                self.button.disabled = False
                self.progress.visible = False
                if job.error:
                    self.status.object = f'<p class="bad">{html.escape(job.error)}</p>'
                else:
                    self.status.object = (
                        f'<p class="good">Done in {time.perf_counter() - job.started:.0f} s. Saved and '
                        f"selected: <b>{html.escape(job.entry.label)}</b>.</p>"
                    )
                    if self.on_trained is not None:
                        self.on_trained(job.entry.key)

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown(
                "### Train your own FourDVarNet\n"
                "FourDVarNet learns, from many simulated problems whose truth is known, how to "
                "descend the variational cost quickly. Here it trains on problems drawn with the "
                "**current settings** of the sidebar (problem type, observation density, observed "
                "components, noise). Each step draws a fresh batch of problems. Training runs in "
                "the background: you can keep exploring while it runs.",
                sizing_mode="stretch_width",
            ),
            pn.Row(pn.Column(self.n_problems, self.n_train_steps, self.button, self.progress), self.loss_pane),
            self.status,
            sizing_mode="stretch_width",
        )


# ---------------------------------------------------------------------------------------------
# About

ABOUT = r"""
### What you are looking at

**Lorenz-63** is a tiny model of convection: three numbers *x, y, z* whose path in time traces the
famous *butterfly*. It is **chaotic**: two paths that start almost together drift apart
exponentially, so any forecast eventually loses its skill.

We play a **twin experiment**: we simulate a *truth*, measure it with noise at a few times (the red
crosses, only inside the shaded **assimilation window**, 0 ≤ t ≤ 0.5), and ask each method to
recover the truth in the window, then **forecast** it to t = 10 with no more observations.
Because we made the truth, we can score everyone against it.

### The methods (one colour each, everywhere)

- <span style="color:#000">**truth**</span>, black; <span style="color:#d62728">**observations**</span>, red crosses.
- <span style="color:#8c8c8c">**free run**</span>, grey dashed: start from the background (our prior
  guess of the initial state, its climatological mean) and ignore the observations. The baseline.
- <span style="color:#1f5fbf">**strong-constraint 4DVar**</span>, blue: find the initial state x<sub>0</sub>
  whose model trajectory M<sub>t</sub>(x<sub>0</sub>) best fits both the background x<sub>b</sub>
  and the observations y<sub>t</sub>,
  by minimising

$${COST}$$

  where m<sub>t</sub> is 1 where something was observed, σ<sub>o</sub> is the observation noise and
  σ<sub>b</sub> the background's spread. We solve it
  with Gauss-Newton iterations; the table says how many it took and whether it **converged** (a
  solve that hits the iteration cap is marked, never hidden).
- <span style="color:#7b3fa0">**FourDVarNet**</span>, purple: a small neural network that has
  **learned to minimise** a cost of the same kind over the whole window (observations, background,
  and the Lorenz-63 dynamics as a soft constraint). It takes *K* learned descent steps,
  each fed with the gradient of that cost; it was trained on thousands of simulated problems
  whose truth was known. Once trained it is very fast; it can only be as good as what it was trained
  on (try settings far from its training: see the model list, and the **Train** tab).

### The sliders

| control | what it does |
|---|---|
| Problem | {PRESET_HELP} |
| Observe every N steps | fewer observations as N grows: the problem gets harder |
| Observed components | unobserved ones must be inferred through the dynamics |
| Observation noise | the standard deviation σ<sub>o</sub> of the measurement errors |
| Problem seed / New problem | another random truth and another noise draw |
| 4DVar iteration cap | stop Gauss-Newton after this many iterations, converged or not |
| FourDVarNet steps K | how many learned steps FourDVarNet takes (0 = its first guess: straight lines) |
| Trained FourDVarNet | which trained network to use; each says what it was trained on |

### Reading the plots

- **x(t), y(t), z(t)**: the shaded band is the assimilation window. Zoom one time axis: all follow.
- **RMSE(t)** (log scale): the error against the truth at each time. In a chaotic system it grows
  roughly exponentially after the window. The dotted line is half the attractor's size: once a
  forecast's error passes it, it has lost its skill. The dash-dot lines mark that **predictability
  time** for each method.
- **The x-z plane**: the butterfly; a good analysis retraces the truth's wing.
- **Table**: RMSE over the window, the forecast and the whole run, the predictability time, how long
  each method took (ms, on this server), and 4DVar's iterations and status.

Export: *Download figure (PNG)* saves the time plots; the CSV buttons save the trajectories and the
table. Each plot's toolbar also has a save button.
"""


ABOUT = ABOUT.replace(
    "{COST}",
    (
        r"J(x_0) = \tfrac12 \big\lVert (x_0 - x_b)/\sigma_b \big\rVert^2"
        r" + \tfrac12 \sum_{t} \big\lVert m_t \odot (M_t(x_0) - y_t)/\sigma_o \big\rVert^2"
    ),
).replace(
    "{PRESET_HELP}",
    (
        "*attractor*: the truth starts on the butterfly and forecasts lose skill after a few time "
        "units. *seed*: the reference notebook's problem, which stays close to an unstable fixed point."
    ),
)


class AboutView(Viewer):
    def __panel__(self):
        skipped = registry.skipped
        note = ""
        if skipped:
            note = "\n\n**Note:** " + "; ".join(skipped)
        return pn.pane.Markdown(
            ABOUT + note, sizing_mode="stretch_width", max_width=980, renderer="markdown-it", disable_math=False
        )
