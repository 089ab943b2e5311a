"""The class's shared state on a Dask distributed scheduler that several servers share (`engine.py`).

- The teacher's settings: a `distributed.Variable` named as the channel's file is (a hash of the token),
  holding {generation, version, settings}. Each student page keeps its once-a-second poll; one read per
  server process per `READ_EVERY_S` reaches the scheduler, and what comes back is checked by the
  channel as a file is (`teacher._check_push`): never trusted.
- A training: a task (`train_task`, the same `TrainRequest` JSON and the same training code as
  `train_worker.py`, in the worker process) submitted under a key that sorts by arrival. The worker
  reports its progress in a Variable keyed by the task (steps, losses, evaluating, its pid), looks at
  a stop Event (Cancel) every `PROGRESS_EVERY_S`, then publishes the model file's bytes on the
  scheduler (`MODEL_PREFIX` + file name) and returns them. Every server copies each published model
  into its own model folder (`sync_models`, from the model watcher), where the owner in the file's
  header decides who lists it (`models.entries_for`), as for a model trained on the machine itself.
- Retries are explicit: `RETRIES` = 0 (a task that raises is not run again), and the engine's scheduler
  gives up on a task whose worker died under it (`ALLOWED_FAILURES` = 0): the student is told
  (`WORKER_LOST`) and presses Train again; the other workers' trainings and every published model are
  untouched.
- Place in the queue: the trainings known to the workers (`Client.processing`), ordered by key; with N
  workers the first N run, the page shows "queued" for the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import threading
import time

from core.io.paths import REPOSITORY, write_atomically
from dashboard.training.engine import CONNECT_TIMEOUT_S, Engine, EngineError

log = logging.getLogger(__name__)

TRAIN_PREFIX = "l63-train-"  # + arrival time in ns + random bits: the trainings' task keys
MODEL_PREFIX = "l63-model/"  # + file name: a trained model's bytes published on the scheduler
MODEL_FILE = re.compile(r"[a-z0-9][a-z0-9-]{0,120}\.eqx")  # what `models.save_file` names a file (+ a suffix)
MODEL_MAX_BYTES = 64 * 1024 * 1024  # a FourDVarNet file is ~170 kB
RETRIES = 0  # a training that raises is reported, not run again
ALLOWED_FAILURES = 0  # the engine's scheduler: a task whose worker dies is lost (KilledWorker), not restarted
READ_EVERY_S = 0.5  # one read of the teacher's Variable per process and half second, whatever the pages
PROGRESS_EVERY_S = 0.5  # how often a worker reports its progress and looks for a Cancel
POLL_S = 0.4  # how often a server looks at its training (progress, place)
WORKER_LOST = (
    "The training's worker stopped (its process or machine ended) before your model was saved; "
    "nothing was saved and no other student's model is affected. Press Train to start again."
)


def as_json(value):
    """A value as JSON would give it back: Dask's msgpack turns lists into tuples."""
    if isinstance(value, tuple | list):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    return value


class SharedValue:
    """One Variable on the scheduler, read at most once per `READ_EVERY_S` by this process.

    An Event says whether it was ever set: reading a Variable never set waits for it (and the scheduler
    logs a traceback when the wait times out), so a page polling before the teacher's first push asks
    only the Event.
    """

    def __init__(self, client, name: str):
        from distributed import Event, Variable

        self.name = name
        self.variable = Variable(name, client=client)
        self.written = Event(f"{name}-set", client=client)
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._value = None
        self._failed = False

    def get(self):
        """The raw value (anything: the channel checks it), or None if never set or unreachable."""
        with self._lock:
            now = time.monotonic()
            if now - self._read_at < READ_EVERY_S:
                return self._value
            try:
                value = as_json(self.variable.get(timeout=CONNECT_TIMEOUT_S)) if self.written.is_set() else None
                self._failed = False
            except OSError as exc:  # the engine is unreachable: no push, said once until it answers
                if not self._failed:
                    log.warning("the engine does not answer (%s): the teacher's settings wait for it", exc)
                self._failed, value = True, None
            self._value, self._read_at = value, now
            return value

    def set(self, value) -> None:
        with self._lock:
            self.variable.set(value)
            self.written.set()
            self._value, self._read_at = value, time.monotonic()  # (read back at once by the writer)


class DaskEngine(Engine):
    """The engine at `address` (`tcp://HOST:PORT`), one client per server process."""

    shared = True

    def __init__(self, address: str):
        from distributed import Client

        self.address = address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise EngineError(f"--engine {address}: no Dask scheduler answers there ({exc})") from None
        self._values: dict[str, SharedValue] = {}
        self._lock = threading.Lock()
        self._synced: set[str] = set()  # published models already in this server's folder (or refused)
        self._unreachable = False

    def close(self) -> None:
        self.client.close()

    # -- the teacher's settings -------------------------------------------------------------

    def teacher_value(self, name: str) -> SharedValue:
        with self._lock:
            if name not in self._values:
                self._values[name] = SharedValue(self.client, f"l63-{name}")
            return self._values[name]

    # -- trainings --------------------------------------------------------------------------

    def place(self, key: str, estimate_s: float):
        """Where the training `key` stands: position 1 while a worker is (about to be) its own, else
        its place among those waiting for a worker, and about how long until one is free."""
        from dashboard.training.train_queue import Place

        processing = self.client.processing()
        n_workers = max(len(processing), 1)
        keys = sorted(k for tasks in processing.values() for k in tasks if str(k).startswith(TRAIN_PREFIX))
        ahead = keys.index(key) if key in keys else len(keys)  # (not on a worker yet: behind them all)
        if ahead < n_workers:
            return Place(position=1, length=1, wait_s=0.0)
        waiting = max(len(keys), ahead + 1) - n_workers
        position = ahead - n_workers + 1
        return Place(position=position, length=waiting, wait_s=((position - 1) // n_workers + 1) * estimate_s)

    def run_training(self, job) -> None:
        from distributed import Event, KilledWorker, Variable

        key = f"{TRAIN_PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}"
        job.engine_key = key
        progress = Variable(f"{key}-progress", client=self.client)
        stop = Event(f"{key}-stop", client=self.client)
        estimate_s = job.queue.estimate_s(job.config.steps, job.config.batch_size)
        request = json.dumps(job.request.to_json())
        progress.set(None)  # (a Variable never set would make each look wait, `SharedValue`)
        future = self.client.submit(train_task, request, key, key=key, pure=False, retries=RETRIES)
        try:
            while not future.done():
                self._follow(job, progress)
                if job.cancelled.is_set():
                    stop.set()
                    future.cancel()
                    return
                if job.began is None:
                    job.place = self.place(key, estimate_s)
                job.cancelled.wait(POLL_S)
            self._follow(job, progress)
            if future.status == "error":
                error = future.exception()
                if isinstance(error, KilledWorker):
                    log.warning("a training's worker stopped: %s", error)
                    job.error = WORKER_LOST
                    return
                raise RuntimeError(str(error))
            if future.status == "cancelled":  # cancelled elsewhere (the scheduler restarted)
                job.error = WORKER_LOST
                return
            outcome = future.result()
        finally:
            future.release()
            try:
                progress.delete()
            except OSError:  # the engine went away: nothing left to tidy
                pass
        if "error" in outcome:
            raise RuntimeError(str(outcome["error"]))
        from dashboard.training.models import registry
        from dashboard.views.train_verdict import Verdict

        self._store(registry, outcome["file"], outcome["model"])
        job.verdict = Verdict.from_json(outcome.get("verdict"))
        job.timings = dict(outcome.get("timings", {}))
        registry.refresh(force=True)
        job.entry = registry.entries()[f"user/{outcome['file']}"]
        job._record_rates()

    def _follow(self, job, progress) -> None:
        """The worker's latest report into the job: began (once it started), steps, losses, evaluating."""
        report = as_json(progress.get(timeout=CONNECT_TIMEOUT_S))
        if not isinstance(report, dict):  # (None until the worker starts it)
            return
        if job.began is None:
            job.began = time.perf_counter()
            job.place = None
        steps, losses = report.get("steps"), report.get("losses")
        if isinstance(steps, list) and isinstance(losses, list) and len(steps) == len(losses):
            job.steps, job.losses = [int(s) for s in steps], [float(x) for x in losses]
        job.evaluating = bool(report.get("evaluating"))
        job.worker_pid = report.get("pid")

    # -- models -----------------------------------------------------------------------------

    def _store(self, registry, name: str, data) -> bool:
        """Write a published model into this server's model folder (never over a file); True if written."""
        if not isinstance(name, str) or not MODEL_FILE.fullmatch(name):
            raise ValueError(f"a published model's name is not a model file's: {str(name)[:80]!r}")
        if not isinstance(data, bytes) or len(data) > MODEL_MAX_BYTES:
            raise ValueError(f"the published model {name} is not a model file of at most {MODEL_MAX_BYTES} bytes")
        self._synced.add(name)
        path = registry.user_dir / name
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)  # (the registry reads its header and skips it if it is not a model)
        return True

    def sync_models(self, registry) -> bool:
        stored = False
        try:
            datasets = self.client.list_datasets()
        except OSError as exc:  # the engine is unreachable: said once until it answers again
            if not self._unreachable:
                log.warning("the engine does not answer (%s): models trained elsewhere wait for it", exc)
            self._unreachable = True
            return False
        self._unreachable = False
        for dataset in datasets:
            name = str(dataset)
            if not name.startswith(MODEL_PREFIX) or name[len(MODEL_PREFIX) :] in self._synced:
                continue
            try:
                stored |= self._store(registry, name[len(MODEL_PREFIX) :], self.client.get_dataset(name))
            except ValueError as exc:  # said once: it is not asked for again
                self._synced.add(name[len(MODEL_PREFIX) :])
                log.warning("%s", exc)
        return stored


def train_task(request_json: str, key: str) -> dict:
    """A training on a Dask worker: `train_worker.train_and_judge` with progress through the engine.

    Returns the outcome with the model file's bytes (published on the scheduler too) and its name, made
    unique across workers by the task's random bits; the worker keeps no copy.
    """
    from distributed import Event, Variable, get_client

    from dashboard.training.models import registry
    from dashboard.training.train_worker import TrainRequest, train_and_judge

    client = get_client()
    progress = Variable(f"{key}-progress", client=client)
    stop = Event(f"{key}-stop", client=client)
    report = {"pid": os.getpid(), "steps": [], "losses": [], "evaluating": False}
    progress.set(dict(report))
    last = [time.monotonic()]

    def emit(message: dict) -> None:
        if "step" in message:
            report["steps"].append(int(message["step"]))
            report["losses"].append(float(message["loss"]))
        elif "evaluating" in message:
            report["evaluating"] = True
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or "evaluating" in message:
            last[0] = now
            progress.set({**report, "steps": list(report["steps"]), "losses": list(report["losses"])})
            if stop.is_set():
                raise InterruptedError("the training was cancelled")

    outcome = train_and_judge(TrainRequest.from_json(json.loads(request_json)), emit=emit)
    if "error" in outcome or stop.is_set():
        return outcome if "error" in outcome else {"error": "the training was cancelled"}
    saved = registry.user_dir / outcome["saved"].removeprefix("user/")
    data = saved.read_bytes()
    saved.unlink()
    name = f"{saved.stem}-{key[-8:]}.eqx"
    client.publish_dataset(data, name=MODEL_PREFIX + name)
    return {"file": name, "model": data, "verdict": outcome["verdict"], "timings": outcome["timings"]}


def serve_engine(n_workers: int, host: str, port: int, scheduler: str | None = None) -> None:
    """A scheduler (unless `scheduler` is given) and `n_workers` single-threaded workers, each in its
    own process under a nanny (restarted if it dies), with this repository importable; until Ctrl-C.

    The whole engine runs at the training worker's lower priority (`train_worker.NICE`): on a machine
    that also serves pages, the pages keep the CPU, as with the single machine's niced trainings.
    """
    from distributed import Nanny, Scheduler

    from dashboard.training.train_worker import NICE

    os.nice(NICE)  # (inherited by the workers' processes)

    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPOSITORY), os.environ.get("PYTHONPATH")) if p)

    async def run():
        if scheduler is None:
            server = Scheduler(host=host, port=port, dashboard=False, allowed_failures=ALLOWED_FAILURES)
            await server
            address = server.address
        else:
            server, address = None, scheduler
        listen = host if host != "0.0.0.0" else None
        nannies = [Nanny(address, nthreads=1, host=listen, dashboard_address=":0") for _ in range(n_workers)]
        await asyncio.gather(*(nanny.start() for nanny in nannies))
        print(f"engine: {address} with {n_workers} training worker(s); point each server at it with --engine {address}")
        try:
            if server is not None:
                await server.finished()
            else:
                await asyncio.gather(*(nanny.finished() for nanny in nannies))
        finally:
            for nanny in nannies:
                await nanny.close()
            if server is not None:
                await server.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
