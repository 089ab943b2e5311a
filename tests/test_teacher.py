"""Teacher mode without a browser: the token, the shared channel, a follower that can stop following."""

from __future__ import annotations

import pytest

from dashboard import teacher


def test_the_token_comes_from_the_app_arguments_or_the_environment(monkeypatch):
    monkeypatch.delenv(teacher.TOKEN_ENV, raising=False)
    assert teacher.configured_token([]) is None
    assert teacher.configured_token(["--teacher-token", "abc"]) == "abc"
    monkeypatch.setenv(teacher.TOKEN_ENV, "from-env")
    assert teacher.configured_token([]) == "from-env"
    assert teacher.configured_token(["--teacher-token", "abc"]) == "abc"  # the command line wins
    assert teacher.is_teacher(b"abc", "abc") and teacher.is_teacher("abc", "abc")
    assert not teacher.is_teacher("abd", "abc") and not teacher.is_teacher("abc", None)
    assert not teacher.is_teacher(None, "abc") and not teacher.is_teacher("", "abc")


def test_a_push_reaches_a_follower_through_the_file_and_versions_increase(tmp_path):
    lead = teacher.TeacherChannel("tok", folder=tmp_path)
    other_process = teacher.TeacherChannel("tok", folder=tmp_path)  # the same file, read elsewhere
    assert other_process.read() is None
    assert lead.publish({"seed": 7}) == 1
    assert lead.publish({"seed": 8}) == 2
    assert other_process.read() == {"version": 2, "settings": {"seed": 8}}
    assert teacher.TeacherChannel("another token", folder=tmp_path).read() is None


@pytest.fixture
def state():
    from dashboard.compute import run_experiment
    from dashboard.state import ExperimentState

    return ExperimentState(solve=run_experiment)


def test_a_follower_takes_the_teachers_settings_until_it_stops_following(tmp_path, state):
    from dashboard.app import URL_PARAMETERS
    from dashboard.state import ExperimentState

    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    lead = ExperimentState(solve=lambda settings: None)
    lead.param.update(seed=1234, obs_every=9, observed=["x", "z"])
    channel.publish(teacher.teacher_settings(lead, URL_PARAMETERS))
    follower = teacher.Follower(state, channel, URL_PARAMETERS)
    assert follower.poll()
    assert (state.seed, state.obs_every, state.observed) == (1234, 9, ["x", "z"])
    assert state.experiment.settings.seed == 1234 and state.experiment.settings.observed == (0, 2)
    assert not follower.poll()  # nothing new
    follower.set_following(False)
    state.seed = 5  # the student explores alone
    lead.seed = 99
    channel.publish(teacher.teacher_settings(lead, URL_PARAMETERS))
    assert not follower.poll() and state.seed == 5
    follower.set_following(True)  # catches up at once
    assert state.seed == 99


def test_a_setting_the_student_page_cannot_take_is_refused_and_said(tmp_path, state):
    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    channel.publish({"seed": 10**6})
    said = []
    follower = teacher.Follower(state, channel, ("seed",), on_refused=said.append)
    seed = state.seed
    assert not follower.poll()
    assert state.seed == seed and said and "seed" in said[0]
