"""The class's shared state on an engine that several servers share (dashboard/training/engine.py,
dask_engine.py): the flag, the teacher's settings through a Dask Variable, trainings on the engine's
workers listed on another server for their owner only, and a worker killed mid-training."""

import math
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from dashboard.training import engine

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "engine-test-token"
OWNER_A, OWNER_B, OWNER_C, OWNER_D = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # (nobody listens once the socket is closed)


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def test_the_engine_flag_is_read_as_the_teacher_token_is_and_a_bad_address_names_it(monkeypatch):
    monkeypatch.delenv(engine.ENGINE_ENV, raising=False)
    assert engine.configured_address([]) is None  # the single machine stays the default
    assert engine.configured_address(["--engine", "tcp://h:1"]) == "tcp://h:1"
    monkeypatch.setenv(engine.ENGINE_ENV, "tcp://from-env:2")
    assert engine.configured_address([]) == "tcp://from-env:2"
    assert engine.configured_address(["--engine", "tcp://h:1"]) == "tcp://h:1"  # the command line wins
    for bad in ("nonsense", "http://host:8786", "tcp://host"):
        with pytest.raises(engine.EngineError, match=r"^--engine \(or L63_ENGINE\) must look like tcp://HOST:PORT"):
            engine.check_address(bad)
    port = closed_port()
    with pytest.raises(engine.EngineError, match=rf"^--engine tcp://127.0.0.1:{port}: no engine answers there"):
        engine.check_address(f"tcp://127.0.0.1:{port}", timeout_s=2)


def test_a_server_with_an_engine_that_does_not_answer_stops_at_start_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["app.py"])
    monkeypatch.setenv(engine.ENGINE_ENV, f"tcp://127.0.0.1:{closed_port()}")
    engine.use(None)
    try:
        with pytest.raises(SystemExit) as stopped:
            engine.check_at_start()
    finally:
        engine.use(None)
    assert stopped.value.code == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and said[0].startswith("error: --engine tcp://127.0.0.1:") and "Traceback" not in said[0]


@pytest.fixture(scope="module")
def scheduler():
    """A Dask scheduler without workers, over TCP (values go through Dask's serialisation, as between machines)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_the_dask_channel_takes_the_teachers_push_and_reads_a_bad_value_as_no_push(scheduler):
    from dashboard.server.teacher import TeacherChannel
    from dashboard.training.dask_engine import READ_EVERY_S, DaskEngine

    server_a, server_b = DaskEngine(scheduler), DaskEngine(scheduler)  # two servers' clients
    try:
        lead = TeacherChannel(TOKEN, engine=server_a)
        student = TeacherChannel(TOKEN, engine=server_b)
        assert student.read() is None  # no push yet
        assert lead.publish({"seed": 7, "observed": [0, 2]}) == 1
        assert lead.publish({"seed": 8, "observed": [0, 2]}) == 2  # (the writer reads its own push back)
        time.sleep(READ_EVERY_S)
        pushed = student.read()
        assert (pushed.version, pushed.settings) == (2, {"seed": 8, "observed": [0, 2]})
        assert pushed.generation == lead.read().generation
        assert TeacherChannel("another token", engine=server_b).read() is None  # tokens do not mix
        for bad in (
            [1, 2],  # not an object
            {"generation": "g", "version": math.nan, "settings": {"seed": 1}},
            {"generation": "g", "version": 3, "settings": {"seed": [math.inf]}},
            {"generation": "g", "version": 3, "settings": ["seed", 1]},
            "junk",
        ):
            server_a.teacher_value(lead.shared.name.removeprefix("l63-")).set(bad)  # written past the channel
            time.sleep(READ_EVERY_S)
            assert student.read() is None, bad
        lead.publish({"seed": 9})  # after junk: a new generation, read again
        time.sleep(READ_EVERY_S)
        assert student.read().settings == {"seed": 9}
    finally:
        server_a.close()
        server_b.close()


# -- two served dashboards and two training workers sharing one engine (slow: servers, trainings) ----


@pytest.fixture(scope="module")
def class_engine(tmp_path_factory):
    """A scheduler and 2 single-threaded workers (a worker's death loses its task: allowed-failures 0)."""
    from distributed import LocalCluster

    from dashboard.training.dask_engine import ALLOWED_FAILURES

    workers_cache = tmp_path_factory.mktemp("workers-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(workers_cache)  # (the workers' processes inherit it)
    try:
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            worker_dashboard_address=":0",  # (the workers' metrics on free ports: no warning)
            scheduler_kwargs={"allowed_failures": ALLOWED_FAILURES},
        )
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = old
    with cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def two_servers(class_engine, tmp_path_factory):
    """Servers A and B (`panel serve` on two free ports, each with its own cache folder), both pointed
    at the engine (`L63_ENGINE`), in teacher mode; yields {name: (url, cache folder)}."""
    import contextlib

    from benchmarks.local_server import local_server
    from dashboard.data.jitcache import cache_dir

    with contextlib.ExitStack() as stack:
        servers = {}
        for name in ("A", "B"):
            cache = tmp_path_factory.mktemp(f"server-{name}")
            env = {
                **os.environ,
                "L63_JAX_CACHE": os.environ.get("L63_JAX_CACHE") or str(cache_dir() or "off"),
                "XDG_CACHE_HOME": str(cache),
                "L63_TEACHER_TOKEN": TOKEN,
                engine.ENGINE_ENV: class_engine,
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            }
            log_path = cache / "panel-serve.log"
            extra = ["--setup", "dashboard/server/serving.py"]
            port = stack.enter_context(local_server(extra, env=env, log_path=log_path, timeout_s=300, poll_s=0.5))
            servers[name] = (f"http://127.0.0.1:{port}/app", cache)
        yield servers


@pytest.fixture(scope="module")
def chromium(playwright):
    """Debian's chromium, launched from pytest-playwright's own Playwright (`playwright`, one per
    process): a second `sync_playwright()` in a worker that also ran the browser tests would be refused
    ("Sync API inside the asyncio loop")."""
    from benchmarks.local_server import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
    yield browser
    browser.close()


def open_page(browser, url: str, owner: str | None = None):
    from benchmarks.local_server import PLOTS_DRAWN_JS

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    if owner is not None:  # the browser of the student who owns models (owners.py)
        context.add_cookies([{"name": "l63_owner", "value": owner, "url": url.rsplit("/", 1)[0]}])
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(PLOTS_DRAWN_JS, timeout=120_000)
    return page


@pytest.fixture
def engine_of_server_a(class_engine, two_servers, monkeypatch):
    """This test process acts as server A: A's cache folder, A's engine (the code path A's pages use)."""
    from dashboard.training.dask_engine import DaskEngine
    from dashboard.training.models import registry

    monkeypatch.setenv("XDG_CACHE_HOME", str(two_servers["A"][1]))
    shared = DaskEngine(class_engine)
    engine.use(shared)
    registry.refresh(force=True)
    yield shared
    engine.use(None)
    shared.close()
    registry.refresh(force=True)


def tiny_training(name: str, owner: str, steps: int = 20):
    import core
    from dashboard.training.train_job import TrainingJob

    return TrainingJob.start(core.TrainingConfig(steps=steps, batch_size=8, seed=3), name, owner)


@pytest.mark.slow
@pytest.mark.ci
def test_a_teacher_on_server_a_drives_a_student_on_server_b(two_servers, chromium):
    """Real pages: the teacher's on A (?teacher=TOKEN), a following student's on B."""
    (url_a, _), (url_b, _) = two_servers["A"], two_servers["B"]
    student = open_page(chromium, url_b)
    lead = open_page(chromium, f"{url_a}?teacher={TOKEN}")
    try:
        lead.get_by_text("Teacher: every following student").wait_for(timeout=30_000)
        box = lead.locator(".bk-input-group", has=lead.locator("label", has_text="Problem seed (type it)"))
        box.locator("input").fill("4321")
        box.locator("input").press("Enter")
        student.locator("table.metrics caption", has_text="seed 4321,").first.wait_for(timeout=60_000)
    finally:
        lead.context.close()
        student.context.close()


@pytest.mark.slow
@pytest.mark.ci
def test_a_training_queued_on_a_runs_on_a_worker_and_lists_on_b_for_its_owner_only(
    engine_of_server_a, two_servers, chromium
):
    from dashboard.training.dask_engine import MODEL_PREFIX
    from dashboard.training.models import ModelRegistry

    job = tiny_training("shared one", OWNER_A)
    job.thread.join(timeout=400)
    assert job.done and job.error == "", job.error
    assert job.worker_pid is not None and job.worker_pid != os.getpid()  # trained in a worker's process
    file = job.entry.key.removeprefix("user/")
    assert (two_servers["A"][1] / "l63-fourdvarnet" / "models" / file).exists()
    assert MODEL_PREFIX + file in engine_of_server_a.client.list_datasets()
    # Server B copies it into its own folder (its model watcher runs while a page is open) ...
    url_b, cache_b = two_servers["B"]
    owner_page = open_page(chromium, url_b, owner=OWNER_A)
    other_page = open_page(chromium, url_b, owner=OWNER_B)
    try:
        folder_b = cache_b / "l63-fourdvarnet" / "models"
        wait_until(lambda: (folder_b / file).exists(), 60, "server B to copy the model from the engine")
        # ... and lists it on its owner's page, never on another student's.
        option = "yours: shared one"
        # (Within a model-watcher period, 5 s, when quiet; CI's step shares 2 cores among two servers, the
        # engine's workers and Chromium, and once took over 30 s: the budget is for correctness, not speed.)
        owner_page.locator("select option", has_text=option).first.wait_for(state="attached", timeout=90_000)
        other_page.wait_for_timeout(6_000)  # more than a model-watcher period after the file came
        assert other_page.locator("select option", has_text=option).count() == 0
        listed_b = ModelRegistry(user_dir=folder_b)
        assert f"user/{file}" in listed_b.entries_for(OWNER_A) and f"user/{file}" not in listed_b.entries_for(OWNER_B)
    finally:
        owner_page.context.close()
        other_page.context.close()


@pytest.mark.slow
@pytest.mark.ci
def test_a_worker_killed_mid_training_loses_no_other_students_model_and_its_student_is_told(engine_of_server_a):
    from dashboard.training.dask_engine import MODEL_PREFIX, WORKER_LOST
    from dashboard.training.job_runner import bad

    published_before = set(engine_of_server_a.client.list_datasets())
    victim = tiny_training("killed one", OWNER_C, steps=200_000)
    survivor = tiny_training("kept one", OWNER_D, steps=400)
    wait_until(
        lambda: victim.steps and survivor.began is not None and survivor.worker_pid is not None,
        300,
        "both trainings to run, each on a worker",
    )
    assert victim.worker_pid != survivor.worker_pid  # two workers: two at once
    os.kill(victim.worker_pid, signal.SIGKILL)
    victim.thread.join(timeout=120)
    assert victim.done and victim.error == WORKER_LOST
    assert "worker stopped" in bad(victim.error) and "Press Train to start again" in bad(victim.error)
    survivor.thread.join(timeout=400)
    assert survivor.error == "" and survivor.entry is not None
    assert survivor.entry.info["owner"] == OWNER_D
    published = set(engine_of_server_a.client.list_datasets())
    assert published_before <= published  # every model finished before is still there
    assert MODEL_PREFIX + survivor.entry.key.removeprefix("user/") in published
    assert not any("killed-one" in name for name in published)


def test_the_engine_command_refuses_bad_arguments_naming_them(capsys):
    for argv, said in (
        (["--workers", "99"], "--workers must be between 0 and 64; got 99"),
        (["--port", "0"], "--port must be between 1 and 65535; got 0"),
        (["--no-scheduler"], "--no-scheduler needs --scheduler tcp://HOST:PORT"),
    ):
        with pytest.raises(SystemExit) as stopped:
            engine.main(argv)
        assert stopped.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.ci
def test_the_engine_command_starts_a_scheduler_and_single_threaded_workers_that_import_this_code(tmp_path):
    """`python -m dashboard.training.engine` (docs/classroom.md): what the servers and the tests rely on."""
    import subprocess

    from distributed import Client

    from benchmarks.local_server import free_port
    from dashboard.training.dask_engine import ALLOWED_FAILURES

    port = free_port()
    log_path = tmp_path / "engine.log"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)  # the command makes the repository importable in its workers itself
    with open(log_path, "w") as log:
        command = [sys.executable, "-m", "dashboard.training.engine", "--workers", "2", "--port", str(port)]
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        address = f"tcp://127.0.0.1:{port}"
        wait_until(lambda: f"engine: {address} with 2" in log_path.read_text() or proc.poll() is not None, 120, "it")
        assert proc.poll() is None, log_path.read_text()[-2000:]
        with Client(address, timeout=10) as client:
            workers = client.scheduler_info()["workers"].values()
            assert sorted(w["nthreads"] for w in workers) == [1, 1]
            imported = client.run(lambda: __import__("dashboard").__file__)
            assert {Path(f).resolve().parents[1] for f in imported.values()} == {ROOT}
            assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == ALLOWED_FAILURES
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_n_workers_take_n_trainings_and_the_others_wait_in_order_of_arrival():
    """`DaskEngine.place` over what the scheduler says each worker holds (its public `processing()`)."""
    from types import SimpleNamespace

    from dashboard.training.dask_engine import TRAIN_PREFIX, DaskEngine

    keys = [f"{TRAIN_PREFIX}{t:020d}-00000000" for t in (5, 1, 4, 2, 3)]  # arrival times 1..5, listed shuffled
    shared = DaskEngine.__new__(DaskEngine)  # (no scheduler: only its answer matters here)
    shared.client = SimpleNamespace(
        processing=lambda: {"w1": (keys[1], keys[2], "other-task", keys[0]), "w2": (keys[3], keys[4])}
    )
    by_arrival = sorted(keys)
    places = [shared.place(key, estimate_s=30.0) for key in by_arrival]
    assert [(p.position, p.length) for p in places[:2]] == [(1, 1), (1, 1)]  # the two workers' own
    assert [(p.position, p.length) for p in places[2:]] == [(1, 3), (2, 3), (3, 3)]  # queued: all busy
    assert [p.wait_s for p in places] == [0.0, 0.0, 30.0, 30.0, 60.0]  # a worker frees per estimate, two at a time
    late = shared.place(f"{TRAIN_PREFIX}{6:020d}-00000000", estimate_s=30.0)  # not on a worker yet: behind all
    assert (late.position, late.length, late.wait_s) == (4, 4, 60.0)
