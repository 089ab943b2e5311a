"""The training queue (dashboard/training/train_queue.py): order, positions, waits, leaving, stale tickets, processes."""

import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from dashboard.training.train_queue import MIN_REMAINING_S, TrainingQueue


@pytest.fixture
def queue(tmp_path):
    return TrainingQueue(folder=tmp_path / "queue", stale_s=30.0)


def test_first_come_first_served_with_positions_and_waits(queue):
    first, second, third = queue.join(20.0), queue.join(30.0), queue.join(40.0)
    running = queue.place(first)
    assert (running.position, running.length, running.wait_s, running.first) == (1, 3, 0.0, True)
    started = queue.snapshot()[0]["started"]
    assert started is not None and abs(started - time.time()) < 5
    # Behind a running training of 20 s estimated: its remaining time, then each queued estimate.
    p2, p3 = queue.place(second), queue.place(third)
    assert (p2.position, p2.length, p3.position, p3.length) == (2, 3, 3, 3)
    elapsed = time.time() - started
    assert p2.wait_s == pytest.approx(20.0 - elapsed, abs=0.5)
    assert p3.wait_s == pytest.approx(20.0 - elapsed + 30.0, abs=0.5)
    assert not p2.first and not p3.first
    # The running one finishes: everyone moves up, the next one starts.
    queue.leave(first)
    p2, p3 = queue.place(second), queue.place(third)
    assert (p2.position, p2.length, p2.first, p3.position, p3.length) == (1, 2, True, 2, 2)
    assert queue.place(first) is None  # gone


def test_a_queued_student_leaves_and_those_behind_move_up(queue):
    tickets = [queue.join(10.0) for _ in range(4)]
    queue.place(tickets[0])
    queue.leave(tickets[2])  # the third one presses Cancel while queued
    places = [queue.place(t) for t in tickets]
    assert places[2] is None
    assert [(p.position, p.length) for p in places if p is not None] == [(1, 3), (2, 3), (3, 3)]
    queue.leave(tickets[2])  # leaving twice is harmless


def test_only_the_first_ticket_ever_starts(queue):
    tickets = [queue.join(5.0) for _ in range(3)]
    for _ in range(3):  # looking again and again changes nothing
        assert [queue.place(t).first for t in tickets] == [True, False, False]
    assert [entry["started"] is not None for entry in queue.snapshot()] == [True, False, False]


def test_a_running_training_past_its_estimate_still_counts_a_moment(queue):
    first, second = queue.join(0.0), queue.join(10.0)
    queue.place(first)
    assert queue.place(second).wait_s == MIN_REMAINING_S


def test_tickets_of_dead_processes_and_forgotten_pages_are_dropped(queue):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = queue.join(10.0)
    forgotten = queue.join(10.0)
    crashed = queue.join(10.0)
    folder = queue.folder / "tickets"
    # A page whose thread stopped looking at its ticket 60 s ago (> stale_s): dropped.
    old = time.time() - 60
    os.utime(folder / f"{forgotten}.json", (old, old))
    # A ticket whose server process died.
    path = folder / f"{crashed}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {dead_pid}'))
    # Our own ticket is never stale while we look at it, even if its file is old.
    os.utime(folder / f"{mine}.json", (old, old))
    place = queue.place(mine)
    assert (place.position, place.length) == (1, 1)
    assert [entry["ticket"] for entry in queue.snapshot()] == [mine]


def test_estimates_follow_the_last_measured_training(queue):
    default = queue.estimate_s(600, 16)
    assert default > 0
    queue.record(steps=100, batch_size=10, total_s=15.0, steps_s=99 * 10 * 0.004)  # 4 ms per problem-step
    assert queue.estimate_s(100, 10) == pytest.approx(15.0)
    assert queue.estimate_s(200, 10) == pytest.approx(15.0 + 100 * 10 * 0.004)


def test_the_queue_is_shared_by_processes(queue):
    """Another server process takes a ticket first: ours waits behind it until it leaves."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from pathlib import Path
        from dashboard.training.train_queue import TrainingQueue
        q = TrainingQueue(folder=Path({str(queue.folder)!r}))
        t = q.join(12.0)
        assert q.place(t).first
        print("running", flush=True)
        sys.stdin.readline()
        q.leave(t)
        print("left", flush=True)
        """
    )
    other = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "running"
        mine = queue.join(5.0)
        place = queue.place(mine)
        assert (place.position, place.length, place.first) == (2, 2, False)
        assert 0 < place.wait_s <= 12.0
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "left"
        assert queue.place(mine).first
    finally:
        other.kill()
        other.wait()


def test_the_measured_rates_are_no_ticket_and_survive_the_cleanup(queue):
    """rates.json lies beside the tickets, never among them: it holds no place in the queue, and a
    cleanup long after it was written (its file older than the stale age) leaves it alone."""
    queue.record(steps=100, batch_size=10, total_s=15.0, steps_s=99 * 10 * 0.004)
    first, second = queue.join(10.0), queue.join(10.0)
    place = queue.place(first)
    assert (place.position, place.length) == (1, 2)  # nobody ahead, one behind
    assert [entry["ticket"] for entry in queue.snapshot()] == [first, second]
    old = time.time() - 10 * queue.stale_s  # as if recorded long ago: older than any stale ticket
    for path in queue.folder.rglob("*.json"):
        os.utime(path, (old, old))
    assert queue.place(first).length == 1 and queue.place(second) is None  # the forgotten ticket went
    assert queue.estimate_s(100, 10) == pytest.approx(15.0)  # the rates are still there


@pytest.mark.parametrize(
    "content",
    ['{"overhead_s": NaN, "per_problem_step_s": 0.001}', "[1, 2]", '{"overhead_s": 1e999}', "\0" * 10_000],
)
def test_bad_rates_give_the_default_estimate_and_are_said_once(queue, caplog, content):
    default = queue.estimate_s(600, 16)
    queue.folder.mkdir(parents=True, exist_ok=True)
    (queue.folder / "rates.json").write_text(content)
    with caplog.at_level(logging.INFO):
        assert [queue.estimate_s(600, 16) for _ in range(5)] == [default] * 5
    assert len([r for r in caplog.records if "rates.json" in r.getMessage()]) == 1


def test_a_file_among_the_tickets_that_is_no_ticket_holds_no_place(queue, caplog):
    mine = queue.join(10.0)
    tickets = queue.folder / "tickets"
    (tickets / "00000000000000000001-junk.json").write_text('{"pid": NaN, "estimate_s": 5}')
    (tickets / "00000000000000000002-list.json").write_text("[]")
    with caplog.at_level(logging.INFO):
        place = queue.place(mine)
        assert (place.position, place.length, place.wait_s) == (1, 1, 0.0)
        queue.place(mine)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 2 and any("junk.json" in m and "NaN" in m for m in said), said
    assert sorted(p.name for p in tickets.iterdir()) == [f"{mine}.json"]
