"""A training on the server: a ticket in the queue (`train_queue.py`), then a niced worker process.

The Train tab starts one `TrainingJob` per press of its button; the job's thread waits for its turn in
the server-wide queue, then runs `python -m dashboard.training.train_worker` at a lower priority and reads its
progress (steps and losses), then its verdict and the saved model's key. Cancelling leaves the queue
or ends the worker; nothing is saved then. With an engine that several servers share (`--engine`,
`engine.py`), the engine runs it instead (`dask_engine.py`: a task on one of its workers), and the job
reads the same progress and outcome from there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time

import core
from core.io.paths import REPOSITORY
from dashboard.training import engine as engines
from dashboard.training.jobs import BackgroundJob
from dashboard.training.models import registry
from dashboard.training.train_queue import TrainingQueue
from dashboard.training.train_worker import TrainRequest, worker_command
from dashboard.views.page_text import hide_paths
from dashboard.views.train_verdict import Verdict

log = logging.getLogger(__name__)

ROOT = REPOSITORY  # so the worker imports this very `core` and `dashboard`
QUEUE_POLL_S = 0.5  # how often a queued training looks whether its turn has come (and says "still here")


class TrainingJob(BackgroundJob):
    """One training: a ticket in the queue, then a niced worker process; a thread follows both.

    Unlike other jobs, several may exist at once in a process (one per page); the queue lets one run
    at a time across the server's processes. `current` is the one running in this process (for the
    teacher's `cancel_current()`).
    """

    what = "training"
    thread_name = "l63-training"
    logger = log
    queue = TrainingQueue()
    live: list = []  # this process's trainings not yet done (queued or running)

    def __init__(
        self,
        config: core.TrainingConfig,
        name: str = "model",
        owner: str = "",
        start_from: str = "scratch",
        engine: engines.Engine | None = None,
    ):
        self.config = config
        self.engine = engine or engines.current()  # where it runs (`engine.py`): this server's unless given
        self.request = TrainRequest(config=config, name=name, owner=owner, start_from=start_from)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.place = None  # train_queue.Place while queued
        self.began: float | None = None  # perf_counter when its turn came
        self.evaluating = False  # the steps are done: the verdict is being computed
        self.entry = None
        self.verdict: Verdict | None = None
        self.timings: dict = {}
        self.process: subprocess.Popen | None = None
        self.ticket: str | None = None  # its place in the queue (`start`)
        self.engine_key: str | None = None  # its task on a shared engine (`dask_engine.py`)
        self.worker_pid: int | None = None  # the engine's worker process that runs it
        super().__init__()

    @classmethod
    def start(cls, *args, **kwargs) -> TrainingJob:
        """Start a training (it queues behind any other on the server, or on the engine's workers)."""
        job = cls(*args, **kwargs)
        if not job.engine.shared:
            # The ticket is taken here, in the pressing thread: the queue's order is the order of the presses.
            job.ticket = cls.queue.join(cls.queue.estimate_s(job.config.steps, job.config.batch_size))
        with cls.lock:
            cls.live = [j for j in cls.live if not j.done] + [job]
        job.thread.start()
        return job

    @classmethod
    def cancel_current(cls) -> bool:
        """Cancel the training running in this process, or the one of this process whose turn has come
        (for the teacher); True if there was one."""
        with cls.lock:
            job = cls.current
            live = [j for j in cls.live if not j.done]
        if job is None:
            queue = cls.queue.snapshot()
            head = queue[0]["ticket"] if queue else None
            job = next((j for j in live if j.ticket == head), None)
        return job.cancel() if job is not None else False

    @property
    def queued(self) -> bool:
        return self.began is None and not self.done

    def cancelled_message(self) -> str:
        if self.began is None and self.place is not None and not self.place.first:  # it was waiting its turn
            return "You left the queue; nothing was trained."
        return "Training was cancelled."

    def on_cancel(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()

    def work(self):
        self.engine.run_training(self)

    def run_locally(self):
        """The single machine's way (`engine.LocalEngine`): the file queue, then a niced worker process."""
        queue = self.queue
        ticket = self.ticket
        if ticket is None:  # built without `start`
            ticket = self.ticket = queue.join(queue.estimate_s(self.config.steps, self.config.batch_size))
        try:
            while not self.cancelled.is_set():
                place = queue.place(ticket)
                if place is None:  # dropped as stale (e.g. the machine was suspended): queue again
                    ticket = queue.join(queue.estimate_s(self.config.steps, self.config.batch_size))
                    continue
                self.place = place
                if place.first:
                    break
                self.cancelled.wait(QUEUE_POLL_S)
            if self.cancelled.is_set():
                return
            cls = type(self)
            with cls.lock:
                cls.current = self
            self.began = time.perf_counter()
            self._train()
        finally:
            queue.leave(ticket)

    def _train(self):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
            text=True,
        )
        if self.cancelled.is_set():  # cancelled while it started
            self.process.terminate()
        outcome: dict = {}
        try:
            self.process.stdin.write(json.dumps(self.request.to_json()))
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
            elif "evaluating" in message:
                self.evaluating = True
            else:
                outcome = message
        code = self.process.wait()
        if self.cancelled.is_set():
            return
        if "error" in outcome:
            raise RuntimeError(hide_paths(str(outcome["error"])))
        if "saved" not in outcome:
            raise RuntimeError(f"the training process ended without a model (exit status {code})")
        self.verdict = Verdict.from_json(outcome.get("verdict"))
        self.timings = dict(outcome.get("timings", {}))
        registry.refresh(force=True)
        self.entry = registry.entries()[outcome["saved"]]
        self._record_rates()

    def _record_rates(self):
        total = time.perf_counter() - self.began
        steps_s = self.timings.get("train_s", 0.0) - self.timings.get("compile_s", 0.0)
        try:
            self.queue.record(self.config.steps, self.config.batch_size, total, steps_s)
        except OSError:  # only the next estimate suffers
            log.warning("could not store the training's rates for the queue's estimates")
