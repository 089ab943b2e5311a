"""Students' models: names, who lists what (and after a reload), no server path on a page, the verdict."""

import contextlib
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc
from support import wait_until

import core
from dashboard.training import owners
from dashboard.training.job_runner import bad
from dashboard.views.page_text import hide_paths
from dashboard.views.train_verdict import USABLE_RATIO, Verdict, judge, method_verdict

ROOT = Path(__file__).resolve().parents[1]
OWNER_A, OWNER_B = "a" * 32, "b" * 32


def save_fake(name, owner, verdict=None):
    """A model file as the worker saves it (untrained weights: only the header matters here)."""
    from dashboard.training.models import registry

    config = core.TrainingConfig(steps=20, batch_size=8, seed=3)
    info = {"name": name, "owner": owner, "start_from": "scratch"}
    if verdict is not None:
        info["verdict"] = verdict.to_json()
    path = registry.save_file(core.build_model(config), config, info, stem=name)
    registry.refresh(force=True)
    return f"user/{path.name}"


@pytest.mark.parametrize("name", ["", "   ", "a" * 41, "../../etc/passwd", "a/b", "x.eqx", "<b>hi</b>", "C:\\x", 7])
def test_a_bad_model_name_is_refused_naming_the_field_and_the_rule(name):
    with pytest.raises(ValueError, match=r"Model name must be 1 to 40 characters: letters, digits, spaces"):
        owners.check_model_name(name)


def test_a_good_model_name_is_kept_tidied():
    assert owners.check_model_name("  Lorenz   fan_2-b ") == "Lorenz fan_2-b"
    assert owners.check_model_name("a" * 40) == "a" * 40


def test_the_train_button_refuses_a_crafted_name(user_cache):
    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainView

    view = TrainView(state=ExperimentState())
    view.settings.model_name = "../../evil"
    assert view.runner.start() is None and view.runner.job is None
    assert "Model name must be 1 to 40 characters" in view.runner.status.object
    assert 'class="bad"' in view.runner.status.object


def test_the_starting_point_brings_its_steps_and_step_size_and_the_page_says_which(user_cache):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.train_worker import DEFAULT_STEPS, LEARNING_RATES
    from dashboard.views.train import TrainView

    view = TrainView(state=ExperimentState())
    assert view.settings.start_from == "scratch" and "from scratch" in view.runner.status.object
    assert (view.config().steps, view.config().learning_rate) == (DEFAULT_STEPS["scratch"], LEARNING_RATES["scratch"])
    view.settings.start_from = "shipped"
    assert "from the shipped model (fine-tuned)" in view.runner.status.object
    assert (view.config().steps, view.config().learning_rate) == (DEFAULT_STEPS["shipped"], LEARNING_RATES["shipped"])
    view.settings.steps = 500  # the student's own choice stays
    view.settings.start_from = "scratch"
    assert view.config().steps == 500
    assert view.arguments()[1:] == ("model 1", "", "scratch")


def test_a_session_lists_the_shipped_models_and_only_its_own(user_cache):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.models import registry

    mine = save_fake("fan", OWNER_A)
    theirs = save_fake("fan", OWNER_B)  # the same name by another student: another file
    assert mine != theirs
    shipped = {key for key in registry.entries() if key.startswith("assets/")}
    a, b = ExperimentState(owner=OWNER_A), ExperimentState(owner=OWNER_B)
    keys_a, keys_b = set(a.param.model.names.values()), set(b.param.model.names.values())
    assert keys_a == shipped | {mine} and keys_b == shipped | {theirs}
    with pytest.raises(ValueError):  # B cannot select A's model, not even with a crafted value
        b.model = mine
    a.model = mine
    assert a.experiment.model_label.startswith("yours: fan")
    # Nobody's (the local user's) models: not listed to a student.
    local = save_fake("script", "")
    assert local not in set(ExperimentState(owner=OWNER_A).param.model.names.values())


def test_the_same_name_twice_keeps_both_models_told_apart(user_cache):
    from dashboard.state.explore import ExperimentState

    first, second = save_fake("twin", OWNER_A), save_fake("twin", OWNER_A)
    assert first != second and (user_cache / first[5:]).is_file() and (user_cache / second[5:]).is_file()
    names = ExperimentState(owner=OWNER_A).param.model.names
    assert {first, second} <= set(names.values()) and len(names) == len(set(names))


@contextlib.contextmanager
def served_session(monkeypatch, cookies):
    """A page as in a served session whose request carried `cookies` (Panel's public `pn.state.cookies`)."""
    with monkeypatch.context() as patch:
        patch.setattr(owners, "_served", lambda: True)
        patch.setattr(type(pn.state), "cookies", property(lambda state: cookies))
        with set_curdoc(Document()):
            yield


def test_a_reload_in_the_same_browser_lists_the_same_models(user_cache, monkeypatch):
    """The owner id lives in the browser's cookie: a new session with it is the same student."""
    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainView

    with served_session(monkeypatch, {}):
        first = TrainView(state=ExperimentState())
    owner = first.state.owner
    assert len(owner) == 32 and first.cookie.owner == owner  # stored in the browser by the cookie component
    key = save_fake("kept", owner)
    with served_session(monkeypatch, {owners.COOKIE: owner}):
        reloaded = TrainView(state=ExperimentState())
    assert reloaded.state.owner == owner and key in reloaded.state.param.model.names.values()
    assert "kept" in reloaded.yours.object
    with served_session(monkeypatch, {}):  # another browser: another student
        other = TrainView(state=ExperimentState())
    assert other.state.owner != owner and key not in other.state.param.model.names.values()
    with served_session(monkeypatch, {owners.COOKIE: "../../not-an-id"}):  # a malformed cookie is ignored
        crafted = TrainView(state=ExperimentState())
    assert len(crafted.state.owner) == 32 and crafted.state.owner != owner


def test_no_server_path_reaches_the_page(user_cache):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.models import registry
    from dashboard.views.train import TrainView

    user_cache.mkdir(parents=True, exist_ok=True)
    (user_cache / "broken.eqx").write_bytes(b"not a model")  # its error names the file's full path
    registry.refresh(force=True)
    verdict = judge(np.full(10, 0.2), np.full(10, 0.15))
    save_fake("judged", OWNER_A, verdict)
    state = ExperimentState(owner=OWNER_A)
    view = TrainView(state=state)
    texts = [
        view.runner.status.object,
        view.yours.object,
        verdict.html(),
        *registry.skipped,
        *state.param.model.names.keys(),
        bad(f"Training failed (ModelFileError: {str(user_cache / 'x.eqx')!r} is corrupt)"),
    ]
    forbidden = {str(user_cache), str(user_cache.parent), str(ROOT), os.path.expanduser("~"), "/tmp/", "/root/"}
    for text in texts:
        for path in forbidden:
            assert path not in text, (path, text)
    assert any("broken.eqx" in text and "a file on the server" in text for text in registry.skipped)


def test_hide_paths_keeps_everything_but_paths():
    text = "saved /home/t/.cache/l63/models/m.eqx; see https://x.org/a/b; obs every 2/4/5 at 1/2 of ~/x/y"
    assert hide_paths(text) == (
        "saved a file on the server; see https://x.org/a/b; obs every 2/4/5 at 1/2 of a file on the server"
    )


def test_the_verdict_summarises_as_the_evaluation_does():
    values = np.arange(1.0, 12.0)  # 1..11: median 6, numpy's p10 2 and p90 10
    v = judge(values, values / 2)
    assert (v.n_problems, v.model_median, v.model_p10, v.model_p90) == (11, 6.0, 2.0, 10.0)
    assert (v.fourdvar_median, v.fourdvar_p10, v.fourdvar_p90) == (3.0, 1.0, 5.0)
    assert v.ratio == 2.0 and not v.usable
    assert "not yet" in v.html() and "11 held-out problems" in v.html()
    edge = judge(values * USABLE_RATIO, values)
    assert edge.ratio == pytest.approx(USABLE_RATIO) and "usable (within 1.3x of 4DVar)" in judge(values, values).html()
    assert Verdict.from_json(v.to_json()) == v and Verdict.from_json({"bad": 1}) is None


def test_4dvar_judged_against_itself_is_exactly_usable():
    """A model whose output is 4DVar's own: the same errors, a ratio of exactly 1."""
    fourdvar = core.build_methods(core.MethodContext(), learned=False)["strong_4dvar"]
    v = method_verdict(fourdvar, core.TrainingConfig(), n_problems=16)
    assert v.n_problems == 16 and v.ratio == 1.0 and v.usable
    assert 0.05 < v.fourdvar_median < 0.5  # strong 4DVar on the default problems (noise 0.5, obs every 5)


def test_an_untrained_model_is_judged_not_yet_usable():
    config = core.TrainingConfig()
    from dashboard.views.train_verdict import model_verdict

    v = model_verdict(core.build_model(config), config, n_problems=16)
    assert not v.usable and v.ratio > 2 and "not yet" in v.html()


class FakeTraining:
    """Stands in for the worker: each training holds the queue until released."""

    def __init__(self):
        self.release = threading.Event()

    def __call__(self, job):
        self.release.wait(30)
        job.verdict = judge(np.full(4, 0.2), np.full(4, 0.18))
        job.entry = SimpleNamespace(key="assets/fourdvarnet_attractor_every5.eqx")


def test_a_second_student_is_queued_with_a_position_then_starts(user_cache, monkeypatch):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.train_job import TrainingJob
    from dashboard.views.train import TrainView

    fake = FakeTraining()
    monkeypatch.setattr(TrainingJob, "_train", lambda job: fake(job))
    monkeypatch.setattr(TrainingJob, "_record_rates", lambda job: None)
    alice, bob, carol = (TrainView(state=ExperimentState(owner=o * 32)) for o in "abc")
    first = alice.runner.start()
    wait_until(lambda: first.began is not None, 20, "the first training to begin")
    assert alice.runner.start() is None and alice.runner.job is first  # one training per page at a time
    second, third = bob.runner.start(), carol.runner.start()
    wait_until(
        lambda: all(job.place is not None and job.place.length == 3 for job in (second, third)),
        20,
        "both waiting students to see a queue of 3",
    )
    bob.runner.poll()
    carol.runner.poll()
    assert "position 2 of 3" in bob.runner.status.object and "about" in bob.runner.status.object
    assert "position 3 of 3" in carol.runner.status.object
    # Bob leaves the queue (Cancel): Carol moves up; Bob's page says so.
    assert bob.runner.cancel()
    second.thread.join(10)
    bob.runner.poll()
    assert "left the queue" in bob.runner.status.object and not bob.runner.button.disabled
    wait_until(
        lambda: third.place.position == 2 and third.place.length == 2,
        20,
        "the third student to move up to place 2 of 2",
    )
    carol.runner.poll()
    assert "position 2 of 2" in carol.runner.status.object
    # Alice's training ends: Carol's starts by itself.
    fake.release.set()
    first.thread.join(10)
    wait_until(lambda: third.began is not None, 20, "the third training to begin")
    third.thread.join(10)
    assert first.error == "" and third.error == ""
    carol.runner.poll()
    assert "Done in" in carol.runner.status.object and "usable" in carol.verdict.object


def test_a_closing_page_leaves_the_queue(user_cache, monkeypatch):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.train_job import TrainingJob
    from dashboard.views.train import TrainView

    fake = FakeTraining()
    monkeypatch.setattr(TrainingJob, "_train", lambda job: fake(job))
    monkeypatch.setattr(TrainingJob, "_record_rates", lambda job: None)
    running, leaving = TrainView(state=ExperimentState(owner=OWNER_A)), TrainView(state=ExperimentState(owner=OWNER_B))
    first = running.runner.start()
    wait_until(lambda: first.began is not None, 20, "the first training to begin")
    second = leaving.runner.start()
    wait_until(lambda: second.place is not None, 20, "the second student's place in the queue")
    leaving._page_closed(None)  # what the session-destroyed callback does
    second.thread.join(10)
    assert second.done and second.began is None and "left the queue" in second.error
    running._page_closed(None)  # a running training is not cancelled by its page closing: it is kept
    assert not first.done
    fake.release.set()
    first.thread.join(10)
    assert first.error == ""
    assert TrainingJob.queue.snapshot() == []


@pytest.mark.slow
def test_the_train_button_on_the_default_settings_gives_a_usable_model(user_cache):
    """The whole path of the button: queue, niced worker, verdict, save, listing (its time is measured
    by `python -m benchmarks.train_bench`, not here)."""
    from dashboard.state.explore import ExperimentState
    from dashboard.training.models import registry
    from dashboard.views.train import TrainView

    state = ExperimentState(owner=OWNER_A)
    view = TrainView(state=state)
    job = view.runner.start()
    job.thread.join(timeout=600)
    view.runner.poll()
    assert job.done and job.error == "", job.error
    verdict = job.verdict
    assert verdict.n_problems == 100 and verdict.ratio <= USABLE_RATIO and verdict.usable
    assert "usable (within 1.3x of 4DVar)" in view.verdict.object
    stored = Verdict.from_json(registry.get(job.entry.key).info["verdict"])  # kept with the model
    state.refresh_models()  # (the Dashboard does it when a training ends: `on_trained`)
    assert stored == verdict and job.entry.key in state.param.model.names.values()
    assert "model 1" in view.yours.object and view.settings.model_name == "model 2"
