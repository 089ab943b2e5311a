"""Teacher mode: one page, opened with the teacher's token, pushes its settings to every student page.

Start the server with a token (an environment variable, or the app's own argument):

    L63_TEACHER_TOKEN=s3cret panel serve dashboard/app.py ...
    panel serve dashboard/app.py ... --args --teacher-token s3cret

The teacher opens `http://<server>/app?teacher=s3cret`; every setting they change is written to a
small file in the user's cache folder (`TeacherChannel`), so that every server process
(`--num-procs 2`) sees it; with an engine that several servers share (`--engine`,
dashboard/training/engine.py), in the engine's value of the same name, so that every server's
students see it. Each student page polls that file once a second (a `stat`, cheap) and,
while its "Follow the teacher" switch is on (the default), takes the teacher's settings; a student
who switches it off explores alone, and switches it on again to catch up. Without a token the
feature is off and `?teacher=...` does nothing. The token is compared in constant time, exactly as
given: nothing is stripped, so a token configured with spaces around it needs them in the URL too
(the server says so in its log when it reads such a token).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from core.io.paths import user_cache
from core.io.shared_files import finite, json_type, mapping, read_json_or, write_json_atomically

log = logging.getLogger(__name__)

TOKEN_ENV = "L63_TEACHER_TOKEN"
POLL_MS = 1000  # how often a following page looks for the teacher's settings


_SPACED_TOKENS_SAID: set[str] = set()


def configured_token(argv=None) -> str | None:
    """The teacher token: `--teacher-token` among the app's arguments (`panel serve ... --args`),
    else the `L63_TEACHER_TOKEN` environment variable; None (teacher mode off) when neither is set."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--teacher-token", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    token = known.teacher_token or os.environ.get(TOKEN_ENV) or None
    if token and token != token.strip() and token not in _SPACED_TOKENS_SAID:
        _SPACED_TOKENS_SAID.add(token)  # (said once per process, not once per page)
        log.warning("the teacher token has spaces around it: it is compared exactly, spaces included")
    return token


def is_teacher(given: str | bytes | None, token: str | None) -> bool:
    """Whether `given` (from the page's URL) is the configured token (constant-time comparison)."""
    if not token or not given:
        return False
    if isinstance(given, bytes):
        given = given.decode("utf-8", "replace")
    return hmac.compare_digest(given.encode(), token.encode())  # exactly: " token " is not "token"


def _cache_dir() -> Path:
    return user_cache()


TEACHER_FILE_MAX_BYTES = 64 * 1024  # the settings are ~300 bytes: anything far larger is not the teacher's
MAX_VERSION = 2**53  # (a version is a JSON number: exact up to here)
SETTING_MAX_ITEMS = 64


@dataclass(frozen=True)
class Push:
    """The teacher's latest settings: `version` counts the pushes of one `generation`, a random id the
    teacher's page draws whenever it finds no usable file (the first push, or after a deletion or a
    junk file), so that a version counted again from 1 is still new to every follower."""

    generation: str
    version: int
    settings: dict


def _setting_value(value, name: str):
    """A setting as the teacher's page writes it: a finite number, a string, a boolean, or a list of those."""
    items = value if isinstance(value, list) else [value]
    if len(items) > SETTING_MAX_ITEMS:
        raise ValueError(f'"settings.{name}" has {len(items)} items, more than {SETTING_MAX_ITEMS}')
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            finite(item, f"settings.{name}")
        elif not isinstance(item, (str, bool)):
            raise ValueError(f'"settings.{name}" holds {json_type(item)}, not a number, string or boolean')
    return value


def _check_push(raw) -> Push:
    data = mapping(raw)
    generation = data.get("generation", "")  # ("" in files written before generations)
    if not isinstance(generation, str) or len(generation) > 64:
        raise ValueError(f'"generation" is {json_type(generation)}, not a short string')
    version = finite(data.get("version"), "version", low=1, high=MAX_VERSION, integer=True)
    settings = mapping(data.get("settings"), '"settings"')
    return Push(generation, version, {str(k): _setting_value(v, k) for k, v in settings.items()})


class TeacherChannel:
    """The teacher's latest settings, shared by every server process through one small JSON file, or,
    with an engine that several servers share (`--engine`, dashboard/training/engine.py), through the
    engine's value of the same name.

    The file is named after a hash of the token (two servers with different tokens do not mix) and
    replaced atomically; it is read through the shared-file reader (`core.io.shared_files`): a size cap,
    its schema, and a process-wide cache on its modification time. A file that is not the teacher's
    (junk, a JSON list, a version of NaN) is said once in the log and read as no push at all; so is an
    engine's value (checked by the same `_check_push`).

    Arguments:
        token: the teacher's token.
        folder: the file's folder (default: the user's cache).
        engine: where the class's state lives (default: this server's, `engine.current()`).
    """

    def __init__(self, token: str, folder: Path | None = None, engine=None):
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        self.path = (folder or _cache_dir()) / f"teacher-{digest}.json"
        if engine is None:
            from dashboard.training import engine as engines

            engine = engines.current()
        self.shared = engine.teacher_value(f"teacher-{digest}")  # None: the file

    def publish(self, settings: dict) -> int:
        """Write the teacher's settings; returns their version (it increases with every push of a generation)."""
        current = self.read()
        generation = current.generation if current and current.generation else secrets.token_hex(8)
        version = current.version + 1 if current and current.generation and current.version < MAX_VERSION else 1
        push = {"generation": generation, "version": version, "settings": settings}
        if self.shared is not None:
            self.shared.set(push)
            return version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(self.path, push)
        return version

    def read(self) -> Push | None:
        """The teacher's latest push, or None when there is none (or the file or value is not usable)."""
        if self.shared is not None:
            raw = self.shared.get()
            if raw is None:
                return None
            try:
                return _check_push(raw)
            except (ValueError, TypeError) as exc:
                said = repr(raw)[:4096]
                with _REFUSALS_LOCK:  # once per value, not once per read or per page
                    first = _VALUES_REFUSED.get(self.shared.name) != said
                    _VALUES_REFUSED[self.shared.name] = said
                if first:
                    log.warning("the engine's teacher's settings are not usable (read as no push): %s", exc)
                return None
        return read_json_or(
            self.path, _check_push, None, max_bytes=TEACHER_FILE_MAX_BYTES, what="teacher's settings file", logger=log
        )


_VALUES_REFUSED: dict[str, str] = {}  # engine value name -> the last unusable value said in the log
_REFUSALS_SAID: dict[Path, tuple[str, int] | None] = {}  # channel file -> the last push whose refusal was logged
_REFUSALS_LOCK = threading.Lock()


class Follower:
    """A student page's link to the teacher: applies each new push while `following` is on.

    A push is new when its (generation, version) is not the one this page applied last: a teacher
    who starts again (a new generation, version 1) is followed as well as one who goes on.
    """

    def __init__(self, state, channel: TeacherChannel, names, on_refused=None):
        self.state, self.channel, self.names = state, channel, tuple(names)
        self.following = True
        self.applied: tuple[str, int] | None = None
        self.on_refused = on_refused

    def poll(self) -> bool:
        """Apply the teacher's settings if they are new and this page follows; True if applied."""
        if not self.following:
            return False
        pushed = self.channel.read()
        if pushed is None or (pushed.generation, pushed.version) == self.applied:
            return False
        self.applied = (pushed.generation, pushed.version)
        settings = {k: v for k, v in pushed.settings.items() if k in self.names}
        current = {k: getattr(self.state, k) for k in settings}
        changes = {k: v for k, v in settings.items() if v != current[k]}
        if not changes:
            return False
        try:
            self.state.param.update(**changes)  # one solve for all of them
        except Exception as exc:  # noqa: BLE001 - a value this page cannot take: keep following
            with _REFUSALS_LOCK:  # one line per push, not one per student page
                first = _REFUSALS_SAID.get(self.channel.path) != self.applied
                _REFUSALS_SAID[self.channel.path] = self.applied
            if first:
                log.warning("a teacher setting was refused by the students' pages: %s", exc)
            if self.on_refused is not None:
                self.on_refused(str(exc))
            return False
        return True

    def set_following(self, on: bool) -> None:
        self.following = bool(on)
        if on:
            self.applied = None  # catch up with the teacher at once
            self.poll()


def teacher_settings(state, names) -> dict:
    """The state's settings as plain JSON values (what a follower's state accepts back)."""
    return {name: list(v) if isinstance(v := getattr(state, name), tuple | list) else v for name in names}
