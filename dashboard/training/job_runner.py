"""One view for a background job: a button that starts it, a progress bar and a status line.

The Train tab (a training) and the Generalisation tab (the quick sweep) both use it. The job itself
is a `jobs.BackgroundJob` (one at a time per server process); this view starts it, polls it with a
periodic callback while the session is served, and says how it went. What the owner shows along the
way is given as callbacks, each returning the status line's HTML.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import panel as pn
from panel.viewable import Viewer

from dashboard.training.jobs import BackgroundJob
from dashboard.views.page_text import hide_paths


def bad(text: str) -> str:
    """A status line in the page's error style (any server file path in it hidden, `hide_paths`)."""
    return f'<p class="bad">{html.escape(hide_paths(text))}</p>'


class JobRunner(Viewer):
    """Start `job_class` with the button, poll it, show its progress and its outcome.

    Arguments:
        job_class: the `BackgroundJob` subclass to start.
        label: the button's label.
        arguments: returns the job's constructor arguments; a `ValueError` (settings that cannot be
            used) is shown instead of starting.
        busy: the status line when another job of this class runs on the server.
        started: the status line once the job started, from the job.
        running: the status line at each poll while it runs (None: leave it as it is).
        finished: called once the job succeeded (it may e.g. load the job's results); returns the
            status line.
        total: the number of steps of the job (the progress bar's maximum), or None for a bar that
            only says "busy"; `steps_done(job)` then gives the bar's value at each poll.
        period_ms: how often a served session polls the job.
        width, progress_width: the button's and the progress bar's widths in pixels.
        button_type: the button's colour ("primary", "default", ...).
        idle: the status line before any job.
        cancel_label: with a label, a second button, shown while the job runs, cancels it (`job.cancel()`).
    """

    def __init__(
        self,
        job_class: type[BackgroundJob],
        *,
        label: str,
        arguments: Callable[[], tuple],
        busy: str,
        started: Callable[[BackgroundJob], str],
        running: Callable[[BackgroundJob], str | None],
        finished: Callable[[BackgroundJob], str],
        total: Callable[[BackgroundJob], int] | None = None,
        steps_done: Callable[[BackgroundJob], int] | None = None,
        period_ms: int = 400,
        width: int = 230,
        progress_width: int = 200,
        button_type: str = "primary",
        idle: str = "",
        cancel_label: str | None = None,
    ):
        super().__init__()
        self.job_class, self.arguments, self.busy = job_class, arguments, busy
        self.started, self.running, self.finished = started, running, finished
        self.total, self.steps_done, self.period_ms = total, steps_done, period_ms
        self.button = pn.widgets.Button(label=label, button_type=button_type, width=width)
        self.button.on_click(self.start)
        self.cancel_button = pn.widgets.Button(
            label=cancel_label or "Cancel", button_type="danger", button_style="outline", width=width, visible=False
        )
        self.cancel_button.on_click(self.cancel)
        self._cancellable = cancel_label is not None
        self.progress = pn.indicators.Progress(
            value=0, max=100, width=progress_width, bar_color="primary", visible=False
        )
        self.status = pn.pane.HTML(idle, sizing_mode="stretch_width")
        self.job: BackgroundJob | None = None
        self._reported: BackgroundJob | None = None  # the finished job whose outcome is shown
        self._poll = None

    @property
    def is_running(self) -> bool:
        return self.job is not None and not self.job.done

    def show_idle(self, text: str) -> None:
        """Set the status line, unless a job is running (its own status stays)."""
        if not self.is_running:
            self.status.object = text

    def start(self, event=None) -> BackgroundJob | None:
        """Start a job (the button's action); returns it, or None when it could not start."""
        if self.is_running:  # a click crafted while the button is disabled: one job per page at a time
            return None
        try:
            args = self.arguments()
        except ValueError as exc:
            self.status.object = bad(str(exc))
            return None
        job = self.job_class.start(*args)
        if job is None:
            self.status.object = bad(self.busy)
            return None
        self.job = job
        with pn.io.hold():
            self.button.disabled = True
            self.cancel_button.param.update(visible=self._cancellable, disabled=False)
            if self.total is None:
                self.progress.param.update(value=-1, active=True, visible=True)
            else:
                self.progress.param.update(value=0, max=max(int(self.total(job)), 1), active=False, visible=True)
            self.status.object = self.started(job)
        session = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
        if session is not None:  # served: poll; tests call `poll()` themselves
            self._poll = pn.state.add_periodic_callback(self.poll, period=self.period_ms)
        return job

    def cancel(self, event=None) -> bool:
        """Cancel the running job (the cancel button's action); True if it was running."""
        if self.job is None or self.job.done:
            return False
        self.cancel_button.disabled = True
        self.status.object = "<p>Cancelling...</p>"
        return self.job.cancel()

    def seconds(self) -> float:
        """Seconds since the current job started."""
        return time.perf_counter() - self.job.started if self.job is not None else 0.0

    def poll(self) -> None:
        """Show the job's progress; once it is done, its outcome (the periodic callback)."""
        job = self.job
        if job is None or job is self._reported:
            return
        with pn.io.hold():
            if self.steps_done is not None:
                self.progress.value = min(int(self.steps_done(job)), self.progress.max)
            text = self.running(job)
            if text is not None:
                self.status.object = text
            if not job.done:
                return
            if self._poll is not None:
                self._poll.stop()
                self._poll = None
            self._reported = job
            self.button.disabled = False
            self.cancel_button.visible = False
            self.progress.visible = False
            self.status.object = bad(job.error) if job.error else self.finished(job)

    def __panel__(self):
        return pn.Row(self.button, self.cancel_button, self.progress, self.status)
