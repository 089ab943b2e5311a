"""One background job at a time per server process: sessions start it and poll it, never block on it."""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

log = logging.getLogger(__name__)


class BackgroundJob:
    """`work()` in a daemon thread; `start()` refuses while another job of the same class runs.

    Each subclass gets its own `lock` and `current` slot (so e.g. a training and a sweep may run at
    the same time). When `work()` returns or raises, `done` is set, `error` holds a friendly message
    on failure (the traceback goes to `logger`) and the class's `current` slot is cleared.
    """

    lock: threading.Lock = threading.Lock()
    current: BackgroundJob | None = None
    what = "the job"  # in messages: "<what> failed"
    thread_name = "l63-job"
    logger = log

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.lock = threading.Lock()
        cls.current = None

    def __init__(self):
        self.done = False
        self.error = ""
        self.cancelled = threading.Event()  # set by `cancel()`; `work()` stops when it sees it
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, daemon=True, name=self.thread_name)

    def cancel(self) -> bool:
        """Ask the job to stop (the Cancel button, or the teacher); True if it was still running."""
        if self.done:
            return False
        self.cancelled.set()
        self.on_cancel()
        return True

    def on_cancel(self) -> None:
        """Called by `cancel()`: e.g. end the job's worker process. `work()` may also poll `cancelled`."""

    @classmethod
    def cancel_current(cls) -> bool:
        """Cancel the job of this class running on this server, if any (for the teacher)."""
        with cls.lock:
            job = cls.current
        return job.cancel() if job is not None else False

    def work(self) -> None:
        """The job itself, run in the background thread; store its results on `self`."""
        raise NotImplementedError

    def cancelled_message(self) -> str:
        """The status line of a cancelled job."""
        return f"{self.what[:1].upper()}{self.what[1:]} was cancelled."

    def _run(self):
        cls = type(self)
        try:
            self.work()
            if self.cancelled.is_set():
                self.error = self.cancelled_message()
        except Exception as exc:  # noqa: BLE001
            if self.cancelled.is_set():
                self.error = self.cancelled_message()
            else:
                self.logger.exception("%s failed", self.what)
                self.error = f"{self.what[:1].upper()}{self.what[1:]} failed ({exc.__class__.__name__}: {exc})."
        finally:
            self.done = True
            with cls.lock:
                if cls.current is self:
                    cls.current = None

    @classmethod
    def start(cls, *args, **kwargs) -> Self | None:
        """Start a job (`cls(*args, **kwargs)`), or None when one of this class is already running."""
        with cls.lock:
            if cls.current is not None:
                return None
            job = cls(*args, **kwargs)
            cls.current = job
        job.thread.start()
        return job
