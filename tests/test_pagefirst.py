"""Pages first (issue 20): the classroom warm-up's compiles wait while a page is built or a move solved.

No timings are asserted: a waiting thread is seen to wait (still alive) until what it waits for ends."""

from __future__ import annotations

import threading

import pytest

from dashboard.data import compute
from dashboard.server import pagefirst, warmup
from dashboard.server.pagefirst import PageWork

STILL_WAITING_S = 0.5  # how long a thread is given to (wrongly) get through


def _waiter(work: PageWork) -> threading.Thread:
    thread = threading.Thread(target=work.wait_quiet, daemon=True)
    thread.start()
    return thread


def test_an_open_page_holds_the_warm_up_until_it_is_drawn():
    work = PageWork(quiet_s=0.0, page_hold_s=600.0)
    work.page_opened("student-1")
    work.page_opened("student-2")
    waiter = _waiter(work)
    waiter.join(STILL_WAITING_S)
    assert waiter.is_alive()
    work.page_done("student-1")
    waiter.join(STILL_WAITING_S)
    assert waiter.is_alive()  # one page still being built
    work.page_done("student-2")
    waiter.join(10.0)
    assert not waiter.is_alive()


def test_a_move_being_solved_holds_the_warm_up():
    work = PageWork(quiet_s=0.0)
    release = threading.Event()

    def move():
        with work.busy():
            release.wait(10.0)

    solving = threading.Thread(target=move, daemon=True)
    solving.start()
    while not work._solving:  # (the move has begun)
        pass
    waiter = _waiter(work)
    waiter.join(STILL_WAITING_S)
    assert waiter.is_alive()
    release.set()
    waiter.join(10.0)
    assert not waiter.is_alive()


def test_a_page_whose_browser_never_says_it_drew_holds_nothing_for_long():
    work = PageWork(quiet_s=0.0, page_hold_s=0.2)
    work.page_opened("a closed tab")
    waiter = _waiter(work)
    waiter.join(10.0)
    assert not waiter.is_alive()
    assert work.is_quiet()


def test_the_other_server_process_s_pages_hold_it_too(tmp_path):
    shared = tmp_path / pagefirst.ACTIVITY_FILE
    other = PageWork(shared_file=shared)
    mine = PageWork(quiet_s=0.0, shared_file=shared, other_quiet_s=600.0)
    assert mine.is_quiet()  # nothing yet
    other.page_opened("a student on the other process")
    assert not mine.is_quiet()
    assert PageWork(quiet_s=0.0, shared_file=shared, other_quiet_s=0.0).is_quiet()


def test_the_dashboard_s_solve_counts_as_page_work(monkeypatch):
    seen = []
    monkeypatch.setattr(compute, "locked", lambda args, fn, *a: seen.append(pagefirst.PAGE_WORK._solving))
    compute.solve(compute.Settings(methods=("free_run",)))
    assert seen == [1]
    assert pagefirst.PAGE_WORK._solving == 0


@pytest.fixture
def own_cache(monkeypatch, tmp_path):
    """A user cache of this test's own (the warm-up's lock between processes lives there)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("L63_JAX_CACHE", raising=False)


def test_the_rest_of_the_warm_up_compiles_nothing_while_a_page_is_open(monkeypatch, own_cache):
    work = PageWork(quiet_s=0.0, page_hold_s=600.0)
    compiled = []
    monkeypatch.setattr(warmup, "PAGE_WORK", work)
    monkeypatch.setattr(
        warmup, "rest_of_warm_up", lambda: [(f"unit {i}", lambda i=i: compiled.append(i)) for i in range(3)]
    )
    work.page_opened("a student")
    rest = threading.Thread(target=warmup.warm_rest, kwargs={"verbose": False}, daemon=True)
    rest.start()
    rest.join(STILL_WAITING_S)
    assert rest.is_alive() and compiled == []
    work.page_done("a student")
    rest.join(10.0)
    assert not rest.is_alive() and compiled == [0, 1, 2]


def test_the_rest_of_the_warm_up_covers_every_window_cap_and_the_landscape():
    names = [what for what, _ in warmup.rest_of_warm_up()]
    for window in compute.WINDOWS:
        assert f"landscape paths, window {window}" in names
        if window != compute.DEFAULT_WINDOW:
            assert any(f"window={window}," in n and "preset='seed'" in n for n in names)
    for cap in compute.ITERATION_CAPS:
        assert any(f"max_steps={cap}," in n for n in names)
    # Every method a student may tick in "Shown" (weak 4DVar among them) is compiled too.
    assert any(f"methods={compute.solved_methods()!r}" in n for n in names)
    assert "explore Lorenz-96, the authors' set-up" in names  # its default page: one unit
    assert warmup.TRAINING_UNIT == names[-1]
    assert "the Cycle tab" in names and "the Cycle tab on Lorenz-96" in names  # one unit per system


@pytest.mark.parametrize("failing", [0, 1])
def test_a_unit_that_fails_does_not_stop_the_rest(monkeypatch, own_cache, failing):
    compiled = []

    def unit(i):
        if i == failing:
            raise RuntimeError("no compiler today")
        compiled.append(i)

    monkeypatch.setattr(warmup, "PAGE_WORK", PageWork(quiet_s=0.0))
    monkeypatch.setattr(warmup, "rest_of_warm_up", lambda: [(f"unit {i}", lambda i=i: unit(i)) for i in range(3)])
    warmup.warm_rest(verbose=False)
    assert compiled == [i for i in range(3) if i != failing]


def test_one_server_process_at_a_time_through_a_warm_up_step(own_cache):
    """`--num-procs 2`: the second waits on the lock, then loads what the first compiled. (flock is per
    open file, so two threads of one process stand for the two processes.)"""
    release, order = threading.Event(), []

    def first():
        with pagefirst.one_process_compiles():
            order.append("first in")
            release.wait(10.0)
            order.append("first out")

    def second():
        with pagefirst.one_process_compiles():
            order.append("second in")

    a = threading.Thread(target=first, daemon=True)
    a.start()
    while not order:
        pass
    b = threading.Thread(target=second, daemon=True)
    b.start()
    b.join(STILL_WAITING_S)
    assert b.is_alive() and order == ["first in"]
    release.set()
    a.join(10.0), b.join(10.0)
    assert order == ["first in", "first out", "second in"]


@pytest.mark.parametrize(
    ("chosen", "wanted"), [(None, True), ("all", True), ("first-page", False), ("First-Page ", False), ("bogus", True)]
)
def test_l63_warm_up_first_page_turns_the_background_warm_up_off(monkeypatch, chosen, wanted):
    if chosen is None:
        monkeypatch.delenv(warmup.WARM_UP_ENV, raising=False)
    else:
        monkeypatch.setenv(warmup.WARM_UP_ENV, chosen)
    assert warmup.warm_rest_wanted() is wanted
