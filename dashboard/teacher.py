"""Teacher mode: one page, opened with the teacher's token, pushes its settings to every student page.

Start the server with a token (an environment variable, or the app's own argument):

    L63_TEACHER_TOKEN=s3cret panel serve dashboard/app.py ...
    panel serve dashboard/app.py ... --args --teacher-token s3cret

The teacher opens `http://<server>/app?teacher=s3cret`; every setting they change is written to a
small file in the user's cache folder (`TeacherChannel`), so that every server process
(`--num-procs 2`) sees it. Each student page polls that file once a second (a `stat`, cheap) and,
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
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

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
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "l63-fourdvarnet"


class TeacherChannel:
    """The teacher's latest settings, shared by every server process through one small JSON file.

    The file is named after a hash of the token (two servers with different tokens do not mix) and
    replaced atomically; `read()` re-reads it only when its modification time changed.
    """

    def __init__(self, token: str, folder: Path | None = None):
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        self.path = (folder or _cache_dir()) / f"teacher-{digest}.json"
        self._stamp: tuple | None = None
        self._cached: dict | None = None

    def publish(self, settings: dict) -> int:
        """Write the teacher's settings; returns their version (it increases with every push)."""
        current = self.read() or {}
        version = int(current.get("version", 0)) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".teacher-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"version": version, "settings": settings}, f)
        os.replace(tmp, self.path)
        return version

    def read(self) -> dict | None:
        """{"version": n, "settings": {...}}, or None when the teacher has not pushed anything."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._cached = json.loads(self.path.read_text())
                self._stamp = stamp
            except (OSError, ValueError):  # being replaced right now: the next poll reads it
                return self._cached
        return self._cached


class Follower:
    """A student page's link to the teacher: applies each new push while `following` is on."""

    def __init__(self, state, channel: TeacherChannel, names, on_refused=None):
        self.state, self.channel, self.names = state, channel, tuple(names)
        self.following = True
        self.applied = 0
        self.on_refused = on_refused

    def poll(self) -> bool:
        """Apply the teacher's settings if they are new and this page follows; True if applied."""
        if not self.following:
            return False
        pushed = self.channel.read()
        if not pushed or int(pushed.get("version", 0)) <= self.applied:
            return False
        self.applied = int(pushed["version"])
        settings = {k: v for k, v in pushed.get("settings", {}).items() if k in self.names}
        current = {k: getattr(self.state, k) for k in settings}
        changes = {k: v for k, v in settings.items() if v != current[k]}
        if not changes:
            return False
        try:
            self.state.param.update(**changes)  # one solve for all of them
        except Exception as exc:  # noqa: BLE001 - a value this page cannot take: keep following
            log.warning("a teacher setting was refused: %s", exc)
            if self.on_refused is not None:
                self.on_refused(str(exc))
            return False
        return True

    def set_following(self, on: bool) -> None:
        self.following = bool(on)
        if on:
            self.applied = 0  # catch up with the teacher at once
            self.poll()


def teacher_settings(state, names) -> dict:
    """The state's settings as plain JSON values (what a follower's state accepts back)."""
    return {name: list(v) if isinstance(v := getattr(state, name), tuple | list) else v for name in names}
