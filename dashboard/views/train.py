"""The Train tab: name a FourDVarNet, train it on the sidebar's settings, watch the loss fall, read its verdict.

The training runs in a worker process at a lower priority (`train_worker.py`, niced), watched by a
background thread (`TrainingJob`), so that exploring students keep the CPU. Trainings queue across
the server's processes (`train_queue.py`: one runs at a time on the 2-core machine); a queued student
reads their position and an estimate of the wait, and may leave the queue; a page that closes leaves
it. When the steps are done the worker judges the model against strong 4DVar on held-out problems
(`train_verdict.py`) and saves it, under the student's name and owner id (`owners.py`), in the user's
cache (`models.registry.save_file`), never over the shipped assets. A session lists the shipped
models and its own (the owner id lives in a browser cookie, so a reload lists them again), never
another student's. Settings are bounded on the server (`TrainingSettings`; the name is checked by
`owners.check_model_name`), and a batch whose estimated memory does not fit is refused before
anything is allocated. No server file path reaches the page (`page_text.hide_paths`).
"""

from __future__ import annotations

import html
import logging
import time

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

import core
from core.io.resources import check_memory, training_memory_bytes
from dashboard.data.export import fmt
from dashboard.figures import plots
from dashboard.server.refusal import Refusals
from dashboard.state.explore import ExperimentState
from dashboard.training.job_runner import JobRunner
from dashboard.training.models import registry
from dashboard.training.owners import NAME_FIELD, NAME_RULE, OwnerCookie, check_model_name, session_owner
from dashboard.training.train_job import TrainingJob
from dashboard.training.train_worker import DEFAULT_BATCH_SIZE, DEFAULT_STEPS, LEARNING_RATES, START_BUTTONS, START_FROM
from dashboard.views.train_verdict import N_HELD_OUT, USABLE_RATIO, Verdict

log = logging.getLogger(__name__)


INTRO = (
    "### Train your own FourDVarNet\n"
    "FourDVarNet learns, from many simulated problems whose truth is known, to bring its estimate of "
    "the window close to that truth, taking steps guided by the variational cost. Here it trains on "
    "problems drawn with the **current settings** of the "
    "sidebar (problem type, observation density, observed components, noise), a fresh batch every step. "
    "It starts **from scratch** (random weights) or **from the shipped model** (fine-tuning the one "
    "shipped with this app, trained far longer beforehand). When it is done it is judged against strong 4DVar on "
    f"{N_HELD_OUT} problems it never saw: **usable** means a median window RMSE within {USABLE_RATIO:g}x "
    "of 4DVar's. One training runs at a time on this server; others wait in a queue. You can keep "
    "exploring meanwhile. Only you see the models you train."
)


class TrainingSettings(param.Parameterized):
    """The Train tab's own settings, bounded on the server: a value crafted in the browser is refused."""

    model_name = param.String(default="model 1", label=NAME_FIELD, doc=f"What to call your model: {NAME_RULE}.")
    start_from = param.Selector(
        default="scratch",
        objects={label: key for key, label in START_BUTTONS.items()},
        label="Start",
        doc="From random weights, or from the shipped model (trained far longer, on the attractor problems).",
    )
    batch_size = param.Integer(
        default=DEFAULT_BATCH_SIZE,
        bounds=(8, 128),
        step=8,
        label="Training problems per step (batch)",
        doc="Problems per step.",
    )
    steps = param.Integer(
        default=DEFAULT_STEPS["scratch"], bounds=(20, 1000), step=10, label="Training steps", doc="Adam steps."
    )


def your_models_html(owner: str) -> str:
    """The Train tab's list of this owner's models, each with its verdict (no file name, no path)."""
    rows = []
    for entry in registry.entries_for(owner).values():
        if not entry.key.startswith("user/"):
            continue
        info = entry.info
        verdict = Verdict.from_json(info.get("verdict"))
        judged = html.escape(verdict.summary()) if verdict is not None else "not judged"
        start = START_FROM.get(info.get("start_from"), "")
        rows.append(
            f"<tr><td>{html.escape(str(info.get('name', '')))}</td>"
            f"<td>{html.escape(entry.config.label())}, {entry.config.steps} steps x {entry.config.batch_size}"
            f" {html.escape(start)}</td><td>{judged}</td></tr>"
        )
    if not rows:
        return "<p><i>You have not trained a model yet.</i></p>"
    return (
        "<p><b>Your models</b> (also in the sidebar's model list; only you see them):</p>"
        '<table class="your-models" style="border-spacing:12px 2px">'
        "<tr><th>name</th><th>trained on</th><th>verdict</th></tr>" + "".join(rows) + "</table>"
    )


class TrainView(Viewer):
    """The training's settings, the job runner, the live loss curve, the verdict and your models."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, on_trained=None, **params):
        super().__init__(**params)
        self.on_trained = on_trained  # called with the new model's registry key
        # A served session's owner id comes from the browser's cookie (or is new, and stored there
        # by `self.cookie` once this tab is shown); the state lists only this owner's trained models.
        owner = self.state.owner or session_owner()
        if owner != self.state.owner:
            self.state.owner = owner
            self.state.refresh_models()
        self.cookie = OwnerCookie(owner=owner)
        self.settings = TrainingSettings(model_name=self._next_name())
        self.name_input = pn.widgets.TextInput.from_param(self.settings.param.model_name, width=320)
        self.start_from = pn.widgets.RadioButtonGroup.from_param(self.settings.param.start_from, width=320)
        self.n_problems = pn.widgets.IntSlider.from_param(self.settings.param.batch_size, width=320)
        self.n_train_steps = pn.widgets.IntSlider.from_param(self.settings.param.steps, width=320)
        self.refusals = Refusals()  # every value the browser sends is checked before it is applied
        # The name must be text; its rule (`check_model_name`) is said when Train is pressed, where the
        # student's typing is kept to correct, not sent back.
        self.refusals.guard(self.name_input, self.settings, "model_name")
        self.refusals.guard(self.start_from, self.settings, "start_from")
        self.refusals.guard(self.n_problems, self.settings, "batch_size")
        self.refusals.guard(self.n_train_steps, self.settings, "steps")
        self.runner = JobRunner(
            TrainingJob,
            label="Train on the current settings",
            arguments=lambda: self.arguments(),
            busy="The training could not be queued; try again.",
            started=self._started,
            running=self._running,
            finished=self._finished,
            total=lambda job: job.config.steps,
            steps_done=lambda job: len(job.losses),
            width=320,
            progress_width=320,
            cancel_label="Cancel (or leave the queue)",
        )
        self.loss_pipe = hv.streams.Pipe(data=([], []))
        self.loss_pane = pn.pane.HoloViews(hv.DynamicMap(plots.loss_plot, streams=[self.loss_pipe]), linked_axes=False)
        self.verdict = pn.pane.HTML("", sizing_mode="stretch_width")
        self.yours = pn.pane.HTML(your_models_html(owner), sizing_mode="stretch_width")
        self._shown = None  # what the status line last said while running (to send only changes)
        self.describe()
        self.state.param.watch(lambda *events: self.describe(), ["preset", "obs_every", "observed", "obs_noise"])
        self.settings.param.watch(self._on_start_from, ["start_from"])
        if getattr(pn.state.curdoc, "session_context", None) is not None:
            pn.state.on_session_destroyed(self._page_closed)

    def _on_start_from(self, event):
        """A new starting point brings its own default number of steps, unless the student chose one."""
        if self.settings.steps == DEFAULT_STEPS.get(event.old):
            self.settings.steps = DEFAULT_STEPS[event.new]
        self.describe()

    @property
    def owner(self) -> str:
        return self.state.owner

    def _next_name(self) -> str:
        names = {str(e.info.get("name", "")) for e in registry.entries_for(self.owner).values()}
        n = 1
        while f"model {n}" in names:
            n += 1
        return f"model {n}"

    def config(self) -> core.TrainingConfig:
        """The training configuration for the sidebar's settings and this tab's settings.

        Raises:
            ValueError: a setting out of its bounds, or a batch whose memory does not fit now.
        """
        s = self.state.settings()
        steps, batch_size = self.settings.steps, self.settings.batch_size
        for p, value in ((self.settings.param.steps, steps), (self.settings.param.batch_size, batch_size)):
            lo, hi = p.bounds  # checked again: the parameter is the only way in, but a config is cheap to check
            if not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{p.label} must be between {lo} and {hi}; got {value!r}")
        try:
            check_memory("batch", batch_size, training_memory_bytes(batch_size))
        except MemoryError as exc:
            raise ValueError(str(exc)) from None
        return core.TrainingConfig(
            preset=s.preset,
            obs_every=(s.obs_every,),
            obs_noise=(s.obs_noise,),
            observed=(s.observed,),
            steps=steps,
            batch_size=batch_size,
            learning_rate=LEARNING_RATES[self.settings.start_from],
            seed=int(time.time()) % 10_000,
        )

    def arguments(self) -> tuple:
        """The `TrainingJob`'s arguments (the Train button's action).

        Raises:
            ValueError: the name or a setting cannot be used (the message names it and its range).
        """
        name = check_model_name(self.settings.model_name)
        if self.settings.start_from not in START_FROM:
            raise ValueError(f"Start must be one of {', '.join(START_FROM)}; got {self.settings.start_from!r}")
        return (self.config(), name, self.owner, self.settings.start_from)

    def describe(self):
        """Say what a training would train on now (while none runs)."""
        try:
            label = self.config().label()
        except ValueError as exc:
            label = f"(not possible: {exc})"
        start = START_FROM[self.settings.start_from]
        self.runner.show_idle(
            f"<p>Will train on: <b>{html.escape(label)}</b>, {html.escape(start)}. The model is kept on "
            "this server under your name and appears in your model list (not in other students').</p>"
        )

    def _page_closed(self, session_context):
        """A page that closes leaves the queue; a training already running finishes and is kept."""
        job = self.runner.job
        if job is not None and job.queued:
            job.cancel()

    def _started(self, job: TrainingJob) -> str:
        self._shown = None
        self.loss_pipe.send(([], []))
        self.verdict.object = ""
        return f"<p>Queued <b>{html.escape(job.request.name)}</b>...</p>"

    def _running(self, job: TrainingJob) -> str | None:
        name = html.escape(job.request.name)
        if job.began is None:  # queued (or left the queue: its outcome follows)
            place = job.place
            if place is None or job.done:
                return None
            ahead = place.position - 1
            text = (
                f"<p>Queued: <b>position {place.position} of {place.length}</b> "
                f"({ahead} training{'s' if ahead != 1 else ''} ahead of yours), about {place.wait_s:.0f} s "
                "before yours starts. Keep exploring meanwhile, or leave the queue (Cancel).</p>"
            )
        elif job.evaluating:
            text = (
                f"<p>Trained <b>{name}</b>; now judging it against strong 4DVar on {N_HELD_OUT} held-out "
                f"problems... ({time.perf_counter() - job.began:.0f} s)</p>"
            )
        else:
            n = len(job.losses)
            if n:
                self.loss_pipe.send((list(job.steps[:n]), list(job.losses[:n])))
                progress = f"step {n} of {job.config.steps}, loss {fmt(job.losses[n - 1])}"
            else:
                progress = "starting (the first training on this server compiles: a few seconds)"
            text = (
                f"<p>Training <b>{name}</b> on <b>{html.escape(job.config.label())}</b>: {progress}, "
                f"{time.perf_counter() - job.began:.0f} s</p>"
            )
        if text == self._shown:
            return None
        self._shown = text
        return text

    def _finished(self, job: TrainingJob) -> str:
        if self.on_trained is not None:
            self.on_trained(job.entry.key)
        seconds = time.perf_counter() - job.began
        self.verdict.object = job.verdict.html() if job.verdict is not None else ""
        self.yours.object = your_models_html(self.owner)
        if self.settings.model_name == job.request.name:  # ready for the next one
            self.settings.model_name = self._next_name()
        return (
            f'<p class="good">Done in {seconds:.0f} s (training and verdict). Saved as '
            f"<b>{html.escape(job.request.name)}</b> and selected in the sidebar.</p>"
        )

    def __panel__(self):
        runner = self.runner
        return pn.Column(
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            self.refusals.banner,
            pn.Row(
                pn.Column(
                    self.name_input,
                    self.start_from,
                    self.n_problems,
                    self.n_train_steps,
                    runner.button,
                    runner.cancel_button,
                    runner.progress,
                ),
                self.loss_pane,
            ),
            runner.status,
            self.verdict,
            self.yours,
            self.cookie,
            sizing_mode="stretch_width",
        )
