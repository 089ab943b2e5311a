"""The Train tab: train a FourDVarNet on the sidebar's settings, watch the loss fall, then use it.

The training runs in a background thread (`TrainingJob`, one at a time per server process: the
classroom server has 2 CPU cores); the session polls it through a `JobRunner`. The trained model is
saved in the user's cache (`models.registry.save_trained`), never over the shipped assets.
"""

from __future__ import annotations

import html
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
from .export import fmt
from .job_runner import JobRunner
from .jobs import BackgroundJob
from .models import registry
from .state import ExperimentState

log = logging.getLogger(__name__)

INTRO = (
    "### Train your own FourDVarNet\n"
    "FourDVarNet learns, from many simulated problems whose truth is known, how to "
    "descend the variational cost quickly. Here it trains on problems drawn with the "
    "**current settings** of the sidebar (problem type, observation density, observed "
    "components, noise). Each step draws a fresh batch of problems. Training runs in "
    "the background: you can keep exploring while it runs."
)


class TrainingJob(BackgroundJob):
    """One training run in a background thread; its losses are read by the polling session."""

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
    """The training's two settings, the job runner and the live loss curve."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, on_trained=None, **params):
        super().__init__(**params)
        self.on_trained = on_trained  # called with the new model's registry key
        self.n_problems = pn.widgets.IntSlider(
            name="Training problems per step (batch)", start=8, end=128, step=8, value=32, width=320
        )
        self.n_train_steps = pn.widgets.IntSlider(
            name="Training steps", start=20, end=1000, step=10, value=200, width=320
        )
        self.runner = JobRunner(
            TrainingJob,
            label="Train on the current settings",
            arguments=lambda: (self.config(),),
            busy="Another training is running on this server; try again when it has finished.",
            started=self._started,
            running=self._running,
            finished=self._finished,
            total=lambda job: job.config.steps,
            steps_done=lambda job: len(job.losses),
            width=320,
            progress_width=320,
        )
        self.loss_pipe = hv.streams.Pipe(data=([], []))
        self.loss_pane = pn.pane.HoloViews(hv.DynamicMap(plots.loss_plot, streams=[self.loss_pipe]), linked_axes=False)
        self._shown_points = 0
        self.describe()
        self.state.param.watch(lambda *events: self.describe(), ["preset", "obs_every", "observed", "obs_noise"])

    def config(self) -> core.TrainingConfig:
        """The training configuration for the sidebar's settings and this tab's two sliders."""
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
        """Say what a training would train on now (while none runs)."""
        try:
            label = self.config().label()
        except ValueError as exc:
            label = f"(not possible: {exc})"
        self.runner.show_idle(
            f"<p>Will train on: <b>{html.escape(label)}</b>. The model is saved in "
            f"<code>{html.escape(str(registry.user_dir))}</code> and appears in the "
            f"model list of every view.</p>"
        )

    def _started(self, job: TrainingJob) -> str:
        self._shown_points = 0
        self.loss_pipe.send(([], []))
        return (
            f"<p>Training on <b>{html.escape(job.config.label())}</b>... (the first step compiles, a few seconds)</p>"
        )

    def _running(self, job: TrainingJob) -> str | None:
        n = len(job.losses)
        if n == self._shown_points:
            return None
        self._shown_points = n
        self.loss_pipe.send((list(job.steps[:n]), list(job.losses[:n])))
        return (
            f"<p>Training on <b>{html.escape(job.config.label())}</b>: "
            f"step {n} of {job.config.steps}, loss {fmt(job.losses[n - 1])}, "
            f"{self.runner.seconds():.0f} s</p>"
        )

    def _finished(self, job: TrainingJob) -> str:
        if self.on_trained is not None:
            self.on_trained(job.entry.key)
        return (
            f'<p class="good">Done in {self.runner.seconds():.0f} s. Saved and '
            f"selected: <b>{html.escape(job.entry.label)}</b>.</p>"
        )

    def __panel__(self):
        runner = self.runner
        return pn.Column(
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            pn.Row(pn.Column(self.n_problems, self.n_train_steps, runner.button, runner.progress), self.loss_pane),
            runner.status,
            sizing_mode="stretch_width",
        )
