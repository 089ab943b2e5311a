"""The class's shared state (the teacher's settings, the trainings, the trained models) and where it lives.

Two backends behind one small interface, `Engine`:

- `LocalEngine` (the default): today's single machine. The teacher's settings are a JSON file in the
  user's cache (`teacher.TeacherChannel`), trainings queue in files and run one at a time in a niced
  process (`train_queue.py`, `train_job.py`), models are files in the user's model folder (`models.py`).
- `DaskEngine` (`dask_engine.py`): a Dask distributed scheduler that several servers on several
  machines share. The teacher's settings are a `distributed.Variable`, each training is a task run by a
  worker (N workers train N students at once), and each trained model is published on the scheduler,
  from where every server copies it into its own model folder.

Each server is pointed at the engine by a flag (read as `--teacher-token` is, `teacher.py`):

    panel serve dashboard/app.py ... --args --engine tcp://HOST:8786
    L63_ENGINE=tcp://HOST:8786 panel serve dashboard/app.py ...

and the engine itself is started by one command (docs/classroom.md, "Several machines"):

    python -m dashboard.training.engine --workers 2 [--port 8786] [--host 0.0.0.0]

(a scheduler and N single-threaded workers, the repository importable in them, a killed worker's
training reported lost rather than started again: `allowed-failures` 0). This module imports no Dask:
the local backend never needs it.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from urllib.parse import urlparse

log = logging.getLogger(__name__)

FLAG = "--engine"
ENGINE_ENV = "L63_ENGINE"
CONNECT_TIMEOUT_S = 10.0  # a scheduler on the class's network answers well within this
DEFAULT_PORT = 8786  # Dask's own default


class EngineError(ValueError):
    """The engine's address is unusable: the message names the flag and what is expected."""


def configured_address(argv=None) -> str | None:
    """The engine's address: `--engine` among the app's arguments (`panel serve ... --args`), else the
    `L63_ENGINE` environment variable; None (the single-machine default) when neither is set."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(FLAG, default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    address = known.engine or os.environ.get(ENGINE_ENV) or None
    return address.strip() if address else None


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """`address` as `tcp://HOST:PORT`, once something answers there; checked before any page is served.

    Raises:
        EngineError: not of the form tcp://HOST:PORT, or nothing listens there (one line, naming the flag).
    """
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if parsed.scheme != "tcp" or not host or not port:
        raise EngineError(f"{FLAG} (or {ENGINE_ENV}) must look like tcp://HOST:PORT; got {address!r}")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise EngineError(
            f"{FLAG} {address}: no engine answers there ({reason}); start one with "
            "`python -m dashboard.training.engine`"
        ) from None
    return f"tcp://{host}:{port}"


class Engine:
    """What a server asks of the class's shared state (abstract).

    - `teacher_value(name)`: where the teacher's settings named `name` live: None for the channel's
      own file (local), else an object with `get()` (the raw value, or None when never set) and `set(value)`.
    - `run_training(job)`: run a `train_job.TrainingJob`'s training to its end in the job's thread,
      filling in its progress (`steps`, `losses`, `place`, `began`, `evaluating`) and outcome
      (`entry`, `verdict`, or `error` with the student's message).
    - `sync_models(registry)`: bring the models trained elsewhere into this server's model folder;
      True if any came.
    """

    shared = False  # whether other servers share this state

    def teacher_value(self, name: str):
        raise NotImplementedError

    def run_training(self, job) -> None:
        raise NotImplementedError

    def sync_models(self, registry) -> bool:
        raise NotImplementedError


class LocalEngine(Engine):
    """Today's single machine: files in the user's cache, one training at a time (the default)."""

    def teacher_value(self, name: str):
        return None  # the channel's own file

    def run_training(self, job) -> None:
        job.run_locally()

    def sync_models(self, registry) -> bool:
        return False  # every model of this machine is already a file in its folder


_CURRENT: Engine | None = None
_CURRENT_PID: int | None = None  # the process that connected it: a forked server process connects again
_CURRENT_LOCK = threading.Lock()


def connect(address: str | None) -> Engine:
    """The engine at `address` (checked, `check_address`), or the local one for None."""
    if not address:
        return LocalEngine()
    from dashboard.training.dask_engine import DaskEngine

    return DaskEngine(check_address(address))


def current() -> Engine:
    """This process's engine, chosen once from the server's arguments (`configured_address`) and
    connected on first use in each process (a client's threads do not survive `--num-procs`' fork)."""
    global _CURRENT, _CURRENT_PID
    with _CURRENT_LOCK:
        if _CURRENT is None or _CURRENT_PID != os.getpid():
            _CURRENT, _CURRENT_PID = connect(configured_address()), os.getpid()
        return _CURRENT


def use(engine: Engine | None) -> None:
    """Make `engine` this process's (None: choose again from the arguments at the next `current()`)."""
    global _CURRENT, _CURRENT_PID
    with _CURRENT_LOCK:
        _CURRENT, _CURRENT_PID = engine, os.getpid()


def check_at_start() -> None:
    """At a server's start (`serving.py`): the configured engine answers, or the server stops with one
    line naming the flag (not a traceback on every page). Connects nothing: each process does on first use."""
    address = configured_address()
    if not address:
        return
    try:
        address = check_address(address)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)  # (one line; the log would say it a second time)
        # A process forked by `--num-procs` (Tornado's `task_id`) ends with status 0: Tornado restarts a
        # child that fails, and would say this line a hundred times; once every child ends, so does the server.
        from tornado.process import task_id

        raise SystemExit(0 if task_id() is not None else 2) from None
    log.info("the class's shared state is the engine at %s", address)


def main(argv=None) -> int:
    """`python -m dashboard.training.engine`: a Dask scheduler and N training workers, until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m dashboard.training.engine",
        description="Start the engine that several dashboard servers share (a Dask scheduler and its workers).",
    )
    parser.add_argument("--workers", type=int, default=2, help="training workers: one per core (default 2)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the scheduler's port (default {DEFAULT_PORT})")
    parser.add_argument("--no-scheduler", action="store_true", help="only workers, for the engine at --scheduler")
    parser.add_argument("--scheduler", default=None, help="with --no-scheduler: tcp://HOST:PORT of the engine")
    args = parser.parse_args(argv)
    if not 0 <= args.workers <= 64:
        parser.error(f"--workers must be between 0 and 64; got {args.workers}")
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535; got {args.port}")
    if args.no_scheduler and not args.scheduler:
        parser.error("--no-scheduler needs --scheduler tcp://HOST:PORT")
    from dashboard.training.dask_engine import serve_engine

    scheduler = None
    if args.no_scheduler:
        try:
            scheduler = check_address(args.scheduler)
        except EngineError as exc:
            parser.error(str(exc).replace(FLAG, "--scheduler"))
    serve_engine(args.workers, host=args.host, port=args.port, scheduler=scheduler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
