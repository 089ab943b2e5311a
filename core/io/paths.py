"""Where things live: the repository, the user's cache folder, and one atomic write for files others read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout: a worker started from here imports this code
# The folder keeps the distribution's first name: the students' models, the class's queue and the JAX
# cache of every earlier install live there, and a rename must not lose them.
APP_FOLDER = "l63-fourdvarnet"


def user_cache(*parts: str) -> Path:
    """`$XDG_CACHE_HOME/l63-fourdvarnet/<parts>` (default `~/.cache/...`), read at each call so a test or
    a benchmark may point it elsewhere; nothing is created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, APP_FOLDER, *parts)


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` as `path`: under a temporary name unique to this call, then renamed in one step, so
    a reader (another session, process or machine sharing the folder) never sees half a file."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
