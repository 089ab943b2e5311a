"""The model list of every live page, kept current by one thread per server process.

Models trained in another session or server process appear as files (`models.registry`); with an
engine that several servers share (`engine.py`), models trained for another server's students are
first copied from the engine into this server's folder (`Engine.sync_models`). This
module's watcher looks for them every few seconds and asks each live page whose list is out of
date to refresh it (on that page's own event loop turn). It lives in an imported module because
`panel serve` runs the app script once per session.
"""

from __future__ import annotations

import logging
import threading
import weakref

from dashboard.training import engine
from dashboard.training.models import registry

log = logging.getLogger(__name__)

_PROCESS_LOCK = threading.Lock()
_PROCESS_WATCHER = None


class ModelListWatcher:
    """One thread per server process looks for models trained elsewhere (another session or process)
    every MODEL_LIST_POLL_MS and asks the live pages whose list is out of date to refresh it.

    (A periodic callback per page did the same: with 100 pages, 20 callbacks a second in the
    callback threads, and Panel's bookkeeping of them is not thread-safe: one failed with a
    traceback in the teacher's terminal.)
    """

    def __init__(self, period_s: float):
        self.period_s = period_s
        self._pages: dict[int, tuple[weakref.ref, object]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def of_process(cls, period_s: float) -> ModelListWatcher:
        """This server process's watcher (the app script runs once per session: it lives here)."""
        with _PROCESS_LOCK:
            global _PROCESS_WATCHER
            if _PROCESS_WATCHER is None:
                _PROCESS_WATCHER = cls(period_s)
            return _PROCESS_WATCHER

    def watch(self, app, doc) -> None:
        """Keep `app`'s model list current while its session lives (no-op outside a server)."""
        if doc is None or doc.session_context is None:
            return
        key = id(app)
        with self._lock:
            self._pages[key] = (weakref.ref(app), doc)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="l63-model-list", daemon=True)
                self._thread.start()
        doc.on_session_destroyed(lambda context: self._forget(key))

    def _forget(self, key: int) -> None:
        with self._lock:
            self._pages.pop(key, None)

    def stop(self) -> None:
        """End the thread (tests; a server's watcher runs as long as the process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                if engine.current().sync_models(registry):
                    registry.refresh()
                registry.maybe_refresh()
                generation = registry.generation
                with self._lock:
                    pages = list(self._pages.values())
                for ref, doc in pages:
                    app = ref()
                    if app is not None and app._generation != generation:
                        # (the one Document method that may be called from another thread)
                        doc.add_next_tick_callback(app.refresh_models)
            except Exception:  # noqa: BLE001 - a closing session or a bad file must not stop the watcher
                log.exception("looking for new models failed")
