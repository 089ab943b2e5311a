"""The Train tab: train a FourDVarNet on the sidebar's settings, watch the loss fall, then use it.

The training runs in a worker process at a lower priority (`train_worker.py`, niced), watched by a
background thread (`TrainingJob`, one at a time per server process: the classroom server has 2 CPU
cores), so that exploring students keep the CPU; the session polls it through a `JobRunner`, and the
trainer (or the teacher, `TrainingJob.cancel_current()`) can cancel it. Its settings are bounded on
the server (`TrainingSettings`: a crafted value from the browser is refused), and a batch whose
estimated memory does not fit is refused before anything is allocated. The trained model is saved in
the user's cache (`models.registry.save_trained`), never over the shipped assets.
"""

from __future__ import annotations

import html
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

import core
from core.resources import check_memory, training_memory_bytes

from . import plots
from .export import fmt
from .job_runner import JobRunner
from .jobs import BackgroundJob
from .models import registry
from .state import ExperimentState
from .train_worker import NICE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]  # so the worker imports this very `core` and `dashboard`

INTRO = (
    "### Train your own FourDVarNet\n"
    "FourDVarNet learns, from many simulated problems whose truth is known, how to "
    "descend the variational cost quickly. Here it trains on problems drawn with the "
    "**current settings** of the sidebar (problem type, observation density, observed "
    "components, noise). Each step draws a fresh batch of problems. Training runs in "
    "the background: you can keep exploring while it runs."
)


class TrainingSettings(param.Parameterized):
    """The Train tab's own settings, bounded on the server: a value crafted in the browser is refused."""

    batch_size = param.Integer(
        default=32, bounds=(8, 128), step=8, label="Training problems per step (batch)", doc="Problems per step."
    )
    steps = param.Integer(default=200, bounds=(20, 1000), step=10, label="Training steps", doc="Adam steps.")


class TrainingJob(BackgroundJob):
    """One training in a niced worker process; a thread reads its progress for the polling session."""

    what = "training"
    thread_name = "l63-training"
    logger = log

    def __init__(self, config: core.TrainingConfig):
        self.config = config
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.entry = None
        self.process: subprocess.Popen | None = None
        super().__init__()

    def on_cancel(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()

    def work(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dashboard.train_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
            preexec_fn=lambda: os.nice(NICE),  # noqa: PLW1509 - only os.nice, before exec
        )
        if self.cancelled.is_set():  # cancelled while it started
            self.process.terminate()
        outcome: dict = {}
        try:
            self.process.stdin.write(json.dumps(self.config.to_json()))
            self.process.stdin.close()
        except OSError:
            pass
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "step" in message:
                self.steps.append(int(message["step"]))
                self.losses.append(float(message["loss"]))
            else:
                outcome = message
        code = self.process.wait()
        if self.cancelled.is_set():
            return
        if "error" in outcome:
            raise RuntimeError(outcome["error"])
        if "saved" not in outcome:
            raise RuntimeError(f"the training process ended without a model (exit status {code})")
        registry.refresh(force=True)
        self.entry = registry.entries()[outcome["saved"]]


class TrainView(Viewer):
    """The training's two settings, the job runner and the live loss curve."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, on_trained=None, **params):
        super().__init__(**params)
        self.on_trained = on_trained  # called with the new model's registry key
        self.settings = TrainingSettings()
        self.n_problems = pn.widgets.IntSlider.from_param(self.settings.param.batch_size, width=320)
        self.n_train_steps = pn.widgets.IntSlider.from_param(self.settings.param.steps, width=320)
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
            cancel_label="Cancel the training",
        )
        self.loss_pipe = hv.streams.Pipe(data=([], []))
        self.loss_pane = pn.pane.HoloViews(hv.DynamicMap(plots.loss_plot, streams=[self.loss_pipe]), linked_axes=False)
        self._shown_points = 0
        self.describe()
        self.state.param.watch(lambda *events: self.describe(), ["preset", "obs_every", "observed", "obs_noise"])

    def config(self) -> core.TrainingConfig:
        """The training configuration for the sidebar's settings and this tab's two settings.

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
            pn.Row(
                pn.Column(self.n_problems, self.n_train_steps, runner.button, runner.cancel_button, runner.progress),
                self.loss_pane,
            ),
            runner.status,
            sizing_mode="stretch_width",
        )
