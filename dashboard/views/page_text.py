"""Text bound for a page never carries a server file path (a student has no use for it, and it tells
strangers how the server is laid out): `hide_paths` replaces every absolute path by a neutral word."""

from __future__ import annotations

import re

# An absolute POSIX path of two parts or more ("/home/t/.cache/x.eqx"), or one under the home folder ("~/x").
_PATH = re.compile(r"(?:~|(?<![\w.:/])/[^\s/'\"<>:,;()]+)(?:/[^\s/'\"<>:,;()]*)+")
HIDDEN = "a file on the server"


def hide_paths(text: str) -> str:
    """`text` with every absolute file path replaced by "a file on the server"."""
    return _PATH.sub(HIDDEN, text)
