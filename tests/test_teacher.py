"""Teacher mode without a browser: the token, the shared channel, a follower that can stop following,
and a channel file that is not the teacher's (junk, huge, deleted, reset) costing no page anything."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from core.io.shared_files import write_json_atomically
from dashboard.server import teacher


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
    pushed = other_process.read()
    assert (pushed.version, pushed.settings) == (2, {"seed": 8})
    on_disk = json.loads(lead.path.read_text())
    assert on_disk == {"generation": pushed.generation, "version": 2, "settings": {"seed": 8}}
    assert len(pushed.generation) == 16  # drawn at the first push, kept by the next ones
    assert teacher.TeacherChannel("another token", folder=tmp_path).read() is None


@pytest.fixture
def state():
    from dashboard.data.compute import run_experiment
    from dashboard.state.explore import ExperimentState

    return ExperimentState(solve=run_experiment)


def test_a_follower_takes_the_teachers_settings_until_it_stops_following(tmp_path, state):
    from dashboard.app import URL_PARAMETERS
    from dashboard.state.explore import ExperimentState

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


def test_a_setting_the_student_page_cannot_take_is_refused_and_said(tmp_path, state, caplog):
    """Each page says it to its student; the teacher's terminal gets one line per push, not one per page."""
    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    channel.publish({"seed": 10**6})
    said = []
    pages = [teacher.Follower(state, channel, ("seed",), on_refused=said.append) for _ in range(3)]
    seed = state.seed
    with caplog.at_level(logging.INFO):
        assert not any(page.poll() for page in pages)
        channel.publish({"seed": 10**6 + 1})
        assert not any(page.poll() for page in pages)
    assert state.seed == seed and len(said) == 6 and all("seed" in s for s in said)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2 and all(r.levelno == logging.WARNING for r in refusals)


# -- a channel file that is not the teacher's ----------------------------------------------------------


def _warnings_about(caplog, path: Path) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and path.name in r.getMessage()]


@pytest.mark.parametrize(
    "content, why",
    [
        ('{"version": NaN, "settings": {"seed": 1}}', "NaN"),
        ('{"version": Infinity, "settings": {"seed": 1}}', "Infinity"),
        ('{"version": 1e999, "settings": {"seed": 1}}', '"version" is inf'),
        ('{"version": "abc", "settings": {"seed": 1}}', '"version" is a string'),
        ('[{"version": 2, "settings": {"seed": 1}}]', "an array, not an object"),
        ('{"version": 2, "settings": ["seed", 1]}', '"settings" is an array'),
        ('{"version": 2, "settings": {"seed": NaN}}', "NaN"),
        ('{"version": 2, "settings": {"seed": {"deep": 1}}}', '"settings.seed" holds an object'),
        ("\u0000\u0000 not json", "not JSON"),
    ],
)
def test_a_bad_channel_file_is_said_once_and_every_page_keeps_working(tmp_path, state, caplog, content, why):
    """Two student pages poll a junk file many times: no error, one warning line, then the teacher's
    next push replaces the junk and both pages follow it."""
    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    channel.path.write_text(content)
    pages = [teacher.Follower(state, teacher.TeacherChannel("tok", folder=tmp_path), ("seed",)) for _ in range(2)]
    seed = state.seed
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert [page.poll() for page in pages] == [False, False]
        said = _warnings_about(caplog, channel.path)
        assert len(said) == 1 and why in said[0].getMessage(), [r.getMessage() for r in said]
        assert state.seed == seed
        assert channel.publish({"seed": seed + 1}) == 1  # the teacher's page writes over the junk
        assert pages[0].poll() and state.seed == seed + 1
        assert len(_warnings_about(caplog, channel.path)) == 1


def test_a_huge_channel_file_is_never_opened(tmp_path, monkeypatch, caplog):
    """60 MB of NUL bytes (a sparse file): every poll costs a stat, never a read; one warning line."""
    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    with channel.path.open("wb") as f:
        f.truncate(60 * 2**20)
    opened = []
    real_open = Path.open

    def spy(self, *args, **kwargs):
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail(f"os.open{a}"))
    pages = [teacher.TeacherChannel("tok", folder=tmp_path) for _ in range(3)]
    with caplog.at_level(logging.INFO):
        assert all(page.read() is None for _ in range(10) for page in pages)
    assert channel.path not in opened
    said = _warnings_about(caplog, channel.path)
    assert len(said) == 1 and f"{60 * 2**20} bytes" in said[0].getMessage()


def test_an_unchanged_channel_file_is_read_once_for_every_page(tmp_path, monkeypatch):
    lead = teacher.TeacherChannel("tok", folder=tmp_path)
    lead.publish({"seed": 3})
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    pages = [teacher.TeacherChannel("tok", folder=tmp_path) for _ in range(5)]
    assert all(page.read().settings == {"seed": 3} for _ in range(4) for page in pages)
    assert opened.count(lead.path) == 1
    lead.publish({"seed": 4})  # a new file: read again, once
    assert all(page.read().settings == {"seed": 4} for page in pages)
    assert opened.count(lead.path) == 2


@pytest.mark.parametrize("reset", ["deleted", "junk", "older copy"])
def test_a_student_follows_a_teacher_whose_versions_start_again(tmp_path, state, reset):
    """A student applied version 3100; the file is deleted, replaced by junk, or an older copy is put
    back: the teacher's next push (or that copy) is followed all the same."""
    channel = teacher.TeacherChannel("tok", folder=tmp_path)
    write_json_atomically(channel.path, {"generation": "a" * 16, "version": 3100, "settings": {"seed": 11}})
    follower = teacher.Follower(state, teacher.TeacherChannel("tok", folder=tmp_path), ("seed",))
    assert follower.poll() and state.seed == 11
    if reset == "older copy":
        write_json_atomically(channel.path, {"generation": "a" * 16, "version": 2, "settings": {"seed": 12}})
    else:
        channel.path.unlink() if reset == "deleted" else channel.path.write_text('{"version": NaN}')
        assert not follower.poll() and state.seed == 11  # nothing pushed meanwhile: nothing changes
        assert channel.publish({"seed": 12}) == 1
    assert follower.poll() and state.seed == 12
    assert not follower.poll()


def test_the_teachers_page_builds_over_a_junk_channel_file(tmp_path, monkeypatch, caplog):
    """`/app?teacher=TOKEN` with a junk file in the cache: the teacher's page builds and pushes, and a
    student's page built after it follows."""
    from bokeh.document import Document

    from dashboard.app import Dashboard
    from dashboard.state.explore import ExperimentState

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = teacher.TeacherChannel("tok").path
    path.parent.mkdir(parents=True)
    path.write_text('{"version": NaN, "settings": {}}')
    lead = Dashboard(state=ExperimentState(solve=lambda settings: None))
    lead.state.seed = 4321
    with caplog.at_level(logging.INFO):
        header = lead.connect_teacher("tok", "tok")
        lead.__panel__().get_root(Document())
    assert lead.role == "teacher" and "Teacher" in header.object
    assert json.loads(path.read_text())["settings"]["seed"] == 4321
    student = Dashboard(state=ExperimentState(solve=lambda settings: None))
    student.connect_teacher("tok", None)
    assert student.role == "student" and student.state.seed == 4321
    assert len(_warnings_about(caplog, path)) == 1
