"""Results shared by every session of a process: an LRU cache on the settings, plus one lock per key
so that a class asking for the same settings at the same moment costs one computation."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

_locks: dict[tuple, threading.Lock] = {}
_locks_guard = threading.Lock()
MAX_LOCKS = 4096  # forget old keys' locks beyond this (a lock is only needed while its key runs)


def shared_cache(fn: Callable, max_items: int = 256) -> Callable:
    """`fn` memoised across sessions on its (hashable) arguments, least recently used evicted first.

    `functools.lru_cache`: safe when several callback threads (`panel serve --num-threads`) call it
    at once. (Panel's `pn.cache` was used before: once full, its eviction iterates over the cache
    while another thread inserts, and a class's slider moves failed with "dictionary changed size
    during iteration"; it also hashes the arguments its own, slower, way.)
    """
    return functools.lru_cache(maxsize=max_items)(fn)


def locked(key: tuple, fn: Callable, *args):
    """`fn(*args)`, run by one thread at a time per `key`: the others wait, then hit the cache."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
        if len(_locks) > MAX_LOCKS:
            _locks.clear()
            _locks[key] = lock
    with lock:
        return fn(*args)
