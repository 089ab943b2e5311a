"""dashboard.data.memo: the cross-session cache under several callback threads at once."""

from __future__ import annotations

import threading

from dashboard.data.memo import locked, shared_cache


def test_a_full_cache_takes_new_keys_from_many_threads_at_once():
    # A class moving sliders with `--num-threads 4`: distinct keys from several threads while the
    # cache is full, so that every insert evicts. Every call must return its own key's value.
    calls = []

    def square(x):
        calls.append(x)
        return x * x

    cached = shared_cache(square, max_items=8)
    errors, wrong = [], []

    def student(offset):
        try:
            for i in range(400):
                x = offset * 1000 + i % 50
                if cached(x) != x * x:
                    wrong.append(x)
        except Exception as exc:  # noqa: BLE001 - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and wrong == []
    assert cached.cache_info().currsize <= 8  # bounded: least recently used keys were evicted


def test_the_same_key_at_once_is_computed_once():
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(x):
        calls.append(x)
        started.set()
        release.wait(5)
        return -x

    cached = shared_cache(slow)
    results = []
    threads = [threading.Thread(target=lambda: results.append(locked(("k", 3), cached, 3))) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait(5)
    release.set()
    for t in threads:
        t.join()
    assert results == [-3] * 4 and calls == [3]
