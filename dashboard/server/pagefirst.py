"""Pages first: the classroom warm-up's compiles wait while a page is built or a move solved.

The classroom command (`--setup dashboard/server/warmup.py`) prepares only what the first page needs before
the server answers, then compiles everything else a slider can reach in a background thread
(`warmup.warm_rest`). Those compiles are minutes of CPU on a fresh cache; a student's page or move
competing with them waited 86-115 s on a loaded 2-core machine (issue 20). Here the background
thread asks `PAGE_WORK.wait_quiet()` before each of its compiles, and waits while, in this process:

- a page has been opened (its session created) and not yet drawn in its browser (at most
  `PAGE_HOLD_S`: a page whose browser never says so holds nothing for long), or
- a move is being solved (`compute.solve`, the Landscape's data: `PAGE_WORK.busy()`), or
- the last of these ended less than `QUIET_S` ago (a class opens its pages over a few seconds);

and while another server process of the same command (`--num-procs 2`: either process may get a
student's websocket) opened a page or solved a move less than `OTHER_PROCESS_QUIET_S` ago (a file's
time stamp in the user's cache folder says when).

A compile already running is not interrupted (JAX offers no such hook): a page opened meanwhile
shares the CPU with that one compile for a few seconds at most. The warm-up thread keeps its OS
priority: lowered (nice 19), it was descheduled for long stretches on a loaded machine while it
held Python's lock, and a page of the same process waited for that lock (a priority inversion).
No page ever waits for the warm-up itself: what a page needs and the warm-up has not compiled yet,
the page compiles on the spot, as without the warm-up.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

QUIET_S = 2.0  # the warm-up resumes once no page was opened or move solved for this long
PAGE_HOLD_S = 20.0  # an opened page holds the warm-up until its browser draws it, at most this long
OTHER_PROCESS_QUIET_S = 5.0  # ... and this long after the other server process's last page or move
ACTIVITY_FILE = "page-activity"  # beside the JAX cache: touched on each page opened and move solved


class PageWork:
    """What pages and moves are in flight in this process, and a wait for none (thread-safe)."""

    def __init__(
        self,
        quiet_s: float = QUIET_S,
        page_hold_s: float = PAGE_HOLD_S,
        shared_file: Path | None = None,
        other_quiet_s: float = OTHER_PROCESS_QUIET_S,
    ):
        self.quiet_s, self.page_hold_s = quiet_s, page_hold_s
        self.shared_file, self.other_quiet_s = shared_file, other_quiet_s
        self._changed = threading.Condition()
        self._solving = 0
        self._pages: dict[str, float] = {}  # an opened page's session id -> when it stops holding
        self._last_end = float("-inf")
        self.waited_s = 0.0  # how long the warm-up has waited for pages, in all (reported)

    @contextlib.contextmanager
    def busy(self):
        """Around a move's solve: no warm-up compile starts meanwhile."""
        with self._changed:
            self._solving += 1
        self._touch()
        try:
            yield
        finally:
            with self._changed:
                self._solving -= 1
                self._last_end = time.monotonic()
                self._changed.notify_all()

    def page_opened(self, session_id: str) -> None:
        self._touch()
        with self._changed:
            self._pages[session_id] = time.monotonic() + self.page_hold_s
            if len(self._pages) > 4096:  # never more than a class: drop the stalest
                self._pages.pop(min(self._pages, key=self._pages.get))

    def page_done(self, session_id: str) -> None:
        """The page is drawn in its browser, or its session is gone."""
        with self._changed:
            if self._pages.pop(session_id, None) is not None:
                self._last_end = time.monotonic()
                self._changed.notify_all()

    def _touch(self) -> None:
        """Tell the other server processes (best effort: no shared folder, no signal)."""
        if self.shared_file is None:
            return
        try:
            self.shared_file.touch()
        except OSError:
            pass

    def _other_process_busy_for(self) -> float:
        if self.shared_file is None:
            return 0.0
        try:
            age = time.time() - self.shared_file.stat().st_mtime
        except OSError:
            return 0.0
        return max(0.0, self.other_quiet_s - age) if age >= 0 else 0.0

    def _busy_for(self, now: float) -> float:
        """0 if the warm-up may compile now, else how long to wait before looking again."""
        for session_id in [s for s, until in self._pages.items() if until <= now]:
            del self._pages[session_id]
            self._last_end = max(self._last_end, now)
        if self._solving or self._pages:
            return 0.25
        return max(self._last_end + self.quiet_s - now, self._other_process_busy_for(), 0.0)

    def is_quiet(self) -> bool:
        with self._changed:
            return self._busy_for(time.monotonic()) == 0.0

    def wait_quiet(self) -> float:
        """Block until no page or move is in flight and none ended in the last `quiet_s`; seconds waited."""
        start = time.monotonic()
        with self._changed:
            while (wait := self._busy_for(time.monotonic())) > 0.0:
                self._changed.wait(wait)
        waited = time.monotonic() - start
        self.waited_s += waited
        return waited


PAGE_WORK = PageWork()  # this process's (`watch_sessions` gives it the file shared with the other processes)


def watch_sessions() -> None:
    """Count each page from its session's creation until it is drawn or its session is destroyed.

    Panel's session hooks must be registered before any session exists: from the `--setup` script.
    """
    import panel as pn

    from dashboard.data.jitcache import cache_dir

    folder = cache_dir()
    if folder is not None:
        PAGE_WORK.shared_file = folder.parent / ACTIVITY_FILE
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            PAGE_WORK.shared_file = None

    def created(session_context) -> None:
        PAGE_WORK.page_opened(session_context.id)

    def destroyed(session_context) -> None:
        PAGE_WORK.page_done(session_context.id)

    pn.state.on_session_created(created)
    pn.state.on_session_destroyed(destroyed)


def page_drawn_now() -> None:
    """The current session's page is drawn in its browser (called from its `onload`)."""
    import panel as pn

    doc = pn.state.curdoc
    context = None if doc is None else doc.session_context
    if context is not None:
        PAGE_WORK.page_done(context.id)


@contextlib.contextmanager
def one_process_compiles():
    """One server process at a time (`--num-procs 2`) through each step of the warm-up: the other
    waits, then loads what the first compiled from the persistent JAX cache instead of compiling it
    again (half the warm-up's CPU on a fresh cache). No lock without a cache folder."""
    from dashboard.data.jitcache import cache_dir

    folder = cache_dir()
    if folder is None:
        yield
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = (folder.parent / "warm-up.lock").open("w")
    except OSError:
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
