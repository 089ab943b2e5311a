"""dashboard.model_watch: one thread per process keeps every live page's model list current."""

from __future__ import annotations

from support import wait_until

from dashboard import model_watch
from dashboard.models import registry


class _Doc:
    def __init__(self):
        self.session_context = object()
        self.scheduled, self.destroyed = [], []

    def add_next_tick_callback(self, callback):
        self.scheduled.append(callback)

    def on_session_destroyed(self, callback):
        self.destroyed.append(callback)


class _Page:
    def __init__(self, generation):
        self._generation = generation

    def refresh_models(self):
        pass


def test_only_out_of_date_live_pages_are_asked_to_refresh(monkeypatch):
    monkeypatch.setattr(registry, "maybe_refresh", lambda: None)
    monkeypatch.setattr(registry, "generation", 7)
    watcher = model_watch.ModelListWatcher(period_s=0.02)
    current, stale, closed = _Page(7), _Page(6), _Page(6)
    docs = {page: _Doc() for page in (current, stale, closed)}
    for page, doc in docs.items():
        watcher.watch(page, doc)
    docs[closed].destroyed[0](None)  # that tab was closed: its session is gone
    try:
        wait_until(lambda: docs[stale].scheduled, 5, "the stale page's refresh", poll_s=0.01)
    finally:
        watcher.stop()
    assert docs[stale].scheduled and docs[stale].scheduled[0] == stale.refresh_models
    assert docs[current].scheduled == [] and docs[closed].scheduled == []
    assert len(watcher._pages) == 2


def test_a_page_outside_a_server_is_not_watched():
    watcher = model_watch.ModelListWatcher(period_s=10)
    doc = _Doc()
    doc.session_context = None
    watcher.watch(_Page(0), doc)
    assert watcher._pages == {} and watcher._thread is None
    assert model_watch.ModelListWatcher.of_process(5) is model_watch.ModelListWatcher.of_process(5)
