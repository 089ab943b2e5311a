"""One training at a time on the whole server, first come first served, across its processes.

The classroom server runs `--num-procs 2` on 2 CPU cores: two trainings at once would each take twice
as long and stall every exploring student. So a training first takes a ticket, a small JSON file in
the user's cache folder (`$XDG_CACHE_HOME/l63-fourdvarnet/train-queue/tickets`, shared by the
processes), and starts only when its ticket is the oldest live one. The folder above the tickets holds
the lock and the measured rates (`rates.json`), which are never taken for a ticket. Every change and
every look happens under an exclusive `fcntl` lock on the folder's lock file, so two processes never
both see themselves first. A ticket whose process has died, or whose holder stopped looking at it for
`STALE_S` seconds, is dropped; a ticket is the holder's own to leave (done, cancelled, or its page closed).

Each ticket carries an estimate of its duration (`estimate_s`) and, once running, when it began,
so that a queued student reads "position k of n, about X s". Tickets and rates are read through the
shared-file reader (`core.io.shared_files`): a ticket out of its schema is said once and dropped, rates
out of theirs are said once and the machine's defaults used.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from core.io.paths import user_cache
from core.io.shared_files import finite, mapping, read_json_or, write_json_atomically

log = logging.getLogger(__name__)

STALE_S = 30.0  # a queued ticket not looked at for this long belongs to a stuck or vanished page
MIN_REMAINING_S = 2.0  # a running training past its estimate still needs a moment
# Measured on the classroom machine (2 cores): start, compile and verdict ~10 s; ~1 ms per problem and step.
DEFAULT_RATES = {"overhead_s": 10.0, "per_problem_step_s": 1.0e-3}
RUNNING_LIMIT_S = 1800.0  # no classroom training runs this long (the Train tab's largest is ~10 min)
FILE_MAX_BYTES = 4096  # a ticket or the rates: ~100 bytes
MAX_ESTIMATE_S = 86_400.0
TICKETS = "tickets"  # the subfolder of tickets: nothing else lives there
RATES = "rates.json"


def _check_ticket(raw) -> dict:
    data = mapping(raw)
    started = data.get("started")
    return {
        "pid": finite(data.get("pid"), "pid", low=1, high=2**31 - 1, integer=True),
        "estimate_s": finite(data.get("estimate_s"), "estimate_s", low=0.0, high=MAX_ESTIMATE_S),
        "started": None if started is None else finite(started, "started", low=0.0),
    }


def _check_rates(raw) -> dict:
    data = mapping(raw)
    return {
        "overhead_s": finite(data.get("overhead_s"), "overhead_s", low=0.0, high=MAX_ESTIMATE_S),
        "per_problem_step_s": finite(data.get("per_problem_step_s"), "per_problem_step_s", low=0.0, high=10.0),
    }


def queue_dir() -> Path:
    """The shared folder of tickets (under the user's cache, as the trained models)."""
    return user_cache("train-queue")


@dataclass(frozen=True)
class Place:
    """Where a ticket stands: `position` of `length` (1 = running or about to), `wait_s` until it starts."""

    position: int
    length: int
    wait_s: float

    @property
    def first(self) -> bool:
        return self.position == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class TrainingQueue:
    """Tickets in a folder, ordered by the time they were taken.

    Arguments:
        folder: where the tickets live; None for `queue_dir()` at each call (tests move the cache).
        stale_s: a queued ticket not looked at (`place`) for this long is dropped.
    """

    def __init__(self, folder: Path | None = None, stale_s: float = STALE_S):
        self._folder = folder
        self.stale_s = stale_s

    @property
    def folder(self) -> Path:
        return self._folder if self._folder is not None else queue_dir()

    @contextlib.contextmanager
    def _locked(self):
        """The tickets' folder, under the queue's lock."""
        folder = self.folder
        (folder / TICKETS).mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder / TICKETS
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def join(self, estimate_s: float) -> str:
        """Take a ticket at the end of the queue; returns its id (opaque, never shown to a page)."""
        with self._locked() as folder:
            # Nanoseconds since the epoch, then random bits: ordered by arrival, unique across processes.
            ticket = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
            estimate_s = min(float(estimate_s), MAX_ESTIMATE_S) if math.isfinite(estimate_s) else MAX_ESTIMATE_S
            self._write(folder, ticket, {"pid": os.getpid(), "estimate_s": max(estimate_s, 0.0), "started": None})
            return ticket

    def place(self, ticket: str, *, start_if_first: bool = True) -> Place | None:
        """Where `ticket` stands now (None if it is no longer queued); also says "still here".

        With `start_if_first`, a ticket found first is marked as running from now (in the same locked
        step, so that no other ticket can start meanwhile).
        """
        with self._locked() as folder:
            tickets = self._live(folder, keep=ticket)
            names = [name for name, _ in tickets]
            if ticket not in names:
                return None
            index = names.index(ticket)
            data = dict(tickets[index][1])  # (the reader's cached value is shared: never changed in place)
            now = time.time()
            if index == 0 and start_if_first and data.get("started") is None:
                data["started"] = now
                self._write(folder, ticket, data)
            else:
                os.utime(folder / f"{ticket}.json")  # the heartbeat: its file's time
            wait = sum(self._remaining(other, now) for _, other in tickets[:index])
            return Place(position=index + 1, length=len(tickets), wait_s=wait)

    def leave(self, ticket: str) -> None:
        """Give the ticket back (done, cancelled, or the page closed); no error if it is gone."""
        with self._locked() as folder:
            (folder / f"{ticket}.json").unlink(missing_ok=True)

    def estimate_s(self, steps: int, batch_size: int) -> float:
        """How long a training of `steps` x `batch_size` problems should take, from start to verdict:
        the last finished training's measured rates (`record`), else this machine's figures."""
        path = self.folder / RATES
        rates = read_json_or(path, _check_rates, DEFAULT_RATES, max_bytes=FILE_MAX_BYTES, what="training rates")
        return rates["overhead_s"] + steps * batch_size * rates["per_problem_step_s"]

    def record(self, steps: int, batch_size: int, total_s: float, steps_s: float) -> None:
        """Keep a finished training's rates for the next estimates (`steps_s`: its steps after the first)."""
        work = max(steps - 1, 1) * batch_size
        rates = {"per_problem_step_s": max(steps_s, 0.0) / work}
        rates["overhead_s"] = max(total_s - steps * batch_size * rates["per_problem_step_s"], 0.0)
        try:
            _check_rates(rates)
        except ValueError as error:  # (a clock that jumped): the next estimates keep the last good rates
            log.warning("training rates not kept: %s", error)
            return
        with self._locked():
            write_json_atomically(self.folder / RATES, rates)

    def snapshot(self) -> list[dict]:
        """The live tickets in order (for tests and the teacher): each its data plus "ticket"."""
        with self._locked() as folder:
            return [{"ticket": name, **data} for name, data in self._live(folder)]

    # -- inside the lock ---------------------------------------------------------------------

    def _remaining(self, data: dict, now: float) -> float:
        if data["started"] is None:
            return data["estimate_s"]
        return max(data["estimate_s"] - (now - data["started"]), MIN_REMAINING_S)

    def _write(self, folder: Path, ticket: str, data: dict) -> None:
        write_json_atomically(folder / f"{ticket}.json", data)

    def _live(self, folder: Path, keep: str | None = None) -> list[tuple[str, dict]]:
        """The tickets in order, dropping those of dead processes and stale queued ones (`keep` is
        the caller's own: it is looking at it now, so never stale)."""
        live = []
        now = time.time()
        for path in sorted(folder.glob("*.json")):
            name = path.stem
            data = read_json_or(path, _check_ticket, None, max_bytes=FILE_MAX_BYTES, what="queue ticket", logger=log)
            try:
                age = now - path.stat().st_mtime
            except OSError:
                data = None
            if data is None:  # not a ticket of ours (said once in the log): it holds no place
                path.unlink(missing_ok=True)
                continue
            started = data.get("started")
            if started is None:
                stale = name != keep and age > self.stale_s
            else:  # its process is alive yet it ran far past its estimate: the pid was reused after a crash
                stale = now - started > max(3.0 * data["estimate_s"], RUNNING_LIMIT_S)
            if stale or not _alive(data["pid"]):
                path.unlink(missing_ok=True)
                continue
            live.append((name, data))
        return live
