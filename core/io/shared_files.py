"""Small JSON files that pages, server processes and workers share, read through one validating reader.

The teacher's settings, the training queue's tickets and rates, and the model files' headers live in
the user's cache folder, where a bug, a full disk or another local user may leave anything. So every
such file is read by `read_json`:

- a size cap, checked with `stat` before the file is opened (a huge file costs one `stat`, not a read);
- JSON without NaN or Infinity (unless the caller allows them), then the caller's `check`: the schema,
  required keys, types, finite numbers in range; a check raises ValueError/TypeError naming the field;
- a cache on the file's (mtime, size, inode): an unchanged file is neither re-read nor re-parsed, by
  any page of this process (the cache is process-wide), good or bad.

`read_json_or` turns a bad file into the caller's fallback, and says so once, as one warning line,
per change of the file (not per read, not per page). `write_json_atomically` is the one writer.
The module itself uses no JAX.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.io.paths import write_atomically

log = logging.getLogger(__name__)

CACHE_ENTRIES = 4096  # files remembered per process (the oldest forgotten first)


class SharedFileError(ValueError):
    """A shared file's content is unusable: over its size cap, not JSON, or not of its schema."""


@dataclass
class _Entry:
    stamp: tuple
    value: Any = None
    error: SharedFileError | None = None
    reported: bool = False


_CACHE: dict[tuple[str, Callable, int, bool, bool], _Entry] = {}
_LOCK = threading.Lock()


def _stamp(stat: os.stat_result) -> tuple:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_dev)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number (only finite numbers are allowed)")


def _parse(path: Path, check: Callable, max_bytes: int, first_line: bool, allow_constants: bool, stat) -> _Entry:
    """Read and check `path` once (the caller caches the outcome under the stamp it returns)."""
    if not first_line and stat.st_size > max_bytes:
        # Not opened at all: its size alone rules it out.
        return _Entry(_stamp(stat), error=SharedFileError(f"{stat.st_size} bytes, over the {max_bytes} allowed"))
    with path.open("rb") as f:
        stamp = _stamp(os.fstat(f.fileno()))  # the file read, should it have been replaced since the stat
        data = f.readline(max_bytes + 1) if first_line else f.read(max_bytes + 1)
    if len(data) > max_bytes:
        part = "its first line is " if first_line else ""
        return _Entry(stamp, error=SharedFileError(f"{part}over {max_bytes} bytes"))
    try:
        raw = json.loads(data) if allow_constants else json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        nested = isinstance(error, RecursionError)
        reason = str(error) if "not a number" in str(error) else f"not JSON: {'nested too deep' if nested else error}"
        return _Entry(stamp, error=SharedFileError(reason))
    try:
        return _Entry(stamp, value=check(raw))
    except Exception as error:  # noqa: BLE001 - whatever a check chokes on is bad content, never a traceback a poll
        return _Entry(stamp, error=SharedFileError(str(error) or error.__class__.__name__))


def _entry(path, check, max_bytes: int, first_line: bool, allow_constants: bool) -> _Entry:
    path = Path(path)
    stat = os.stat(path)  # FileNotFoundError: absent (normal for most shared files)
    key = (str(path), check, max_bytes, first_line, allow_constants)
    with _LOCK:
        entry = _CACHE.get(key)
    if entry is not None and entry.stamp == _stamp(stat):
        return entry
    entry = _parse(path, check, max_bytes, first_line, allow_constants, stat)
    with _LOCK:
        kept = _CACHE.get(key)
        if kept is not None and kept.stamp == entry.stamp:  # another page parsed it meanwhile: one entry, one report
            return kept
        _CACHE.pop(key, None)
        _CACHE[key] = entry
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
    return entry


def read_json(path, check: Callable[[Any], Any], *, max_bytes: int, first_line: bool = False, allow_constants=False):
    """The checked content of the JSON file `path` (cached: treat it as read-only).

    Arguments:
        check: the parsed JSON -> the value to return; raises ValueError/TypeError/KeyError naming the
            field for content out of its schema. The same function object shares the cache.
        max_bytes: the file's size cap (with `first_line`: the first line's, the rest never read).
        first_line: the JSON is the file's first line (a model file's header, before its weights).
        allow_constants: accept NaN and Infinity (a model's header may record a NaN loss).

    Raises:
        FileNotFoundError: there is no such file.
        SharedFileError: it is over its cap, not JSON, or fails `check` (raised again, without a
            re-read, until the file changes).
        OSError: it could not be read.
    """
    entry = _entry(path, check, max_bytes, first_line, allow_constants)
    if entry.error is not None:
        raise entry.error
    return entry.value


def read_json_or(path, check, fallback, *, max_bytes: int, what: str, logger: logging.Logger = log, **options):
    """`read_json`, or `fallback` when the file is absent or unusable.

    An unusable file is logged as one warning, "<what> <path> ignored: <why>", once per change of the
    file in this process, whichever page or thread reads it.
    """
    try:
        entry = _entry(path, check, max_bytes, options.get("first_line", False), options.get("allow_constants", False))
    except FileNotFoundError:
        return fallback
    except OSError as error:  # unreadable (permissions, a disk error): said once per kind of failure
        entry = _failed_stat(path, check, error)
    if entry.error is None:
        return entry.value
    with _LOCK:
        report, entry.reported = not entry.reported, True
    if report:
        logger.warning("%s %s ignored: %s", what, path, entry.error)
    return fallback


def _failed_stat(path, check, error: OSError) -> _Entry:
    key = (str(path), check, -1, False, False)
    stamp = ("unreadable", error.errno)
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is None or entry.stamp != stamp:
            entry = _CACHE[key] = _Entry(stamp, error=SharedFileError(f"unreadable ({error.strerror or error})"))
    return entry


def write_json_atomically(path, data) -> None:
    """Write `data` as `path`: under a temporary name unique to this call, then renamed in one step,
    so a reader never sees half a file. NaN and Infinity are refused (no reader would take them)."""
    write_atomically(path, json.dumps(data, allow_nan=False).encode())


# -- schema helpers: each raises ValueError naming the field as it is spelled in the file ---------------


def json_type(value) -> str:
    """What a parsed JSON value is, in JSON's words."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    names = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def mapping(value, field: str = "the file") -> dict:
    """`value` if it is a JSON object."""
    if not isinstance(value, dict):
        raise ValueError(f"{field} is {json_type(value)}, not an object")
    return value


def finite(value, field: str, *, low: float = -math.inf, high: float = math.inf, integer: bool = False):
    """`value` if it is a finite number (a whole one with `integer`) within [low, high]."""
    kind = "a whole number" if integer else "a finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = "missing" if value is None else json_type(value)
        shown += f" ({str(value)[:40]!r})" if isinstance(value, (str, list, dict)) else ""
        raise ValueError(f'"{field}" is {shown}, not {kind}')
    if isinstance(value, float) and (not math.isfinite(value) or (integer and not value.is_integer())):
        raise ValueError(f'"{field}" is {value!r}, not {kind}')
    if not low <= value <= high:
        raise ValueError(f'"{field}" is {value!r}, outside {low:g}..{high:g}')
    return int(value) if integer else float(value)
