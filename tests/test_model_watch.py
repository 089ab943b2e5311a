"""dashboard.training.model_watch: one thread per process keeps every live page's model list current; the
unreadable model files it meets are said once each."""

from __future__ import annotations

import logging
import warnings

from support import wait_until

from dashboard.training import model_watch
from dashboard.training.models import ModelRegistry, registry


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


def test_each_unreadable_model_file_is_said_once_until_it_changes(tmp_path, caplog):
    """500 unreadable files: 500 warning lines (no Python warning beside them), none on later scans;
    a file that changes is said again, once."""
    user = tmp_path / "models"
    user.mkdir()
    kinds = [b"not a model", b"\0" * 5000, b'{"format": "l63-fourdvarnet-model", "config": NaN}\n', b"[1, 2]\n"]
    for i in range(500):
        (user / f"broken-{i:03d}.eqx").write_bytes(kinds[i % len(kinds)])
    models = ModelRegistry(assets_dir=tmp_path / "no-assets", user_dir=user)
    with caplog.at_level(logging.INFO), warnings.catch_warnings(record=True) as python_warnings:
        warnings.simplefilter("always")
        models.refresh()
        for _ in range(3):
            models.refresh(force=True)
        (user / "broken-007.eqx").write_bytes(b"still not a model, but another file")
        models.refresh()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert python_warnings == []
    assert len(said) == 501
    times_said = [sum(f"file broken-{i:03d}.eqx:" in m for m in said) for i in range(500)]
    assert times_said == [2 if i == 7 else 1 for i in range(500)]
    assert len(models.skipped) == 500 and list(models.entries()) == ["untrained"]
