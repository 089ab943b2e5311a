"""What a job will need before it starts: a writable place for its output, and enough memory.

The CLI and the dashboard call these before any training or benchmark, so that a bad output path
or an impossible batch fails at once with a clear message instead of after the work (or by running
the machine out of memory).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Peak resident memory, measured on the CPU (max RSS of `fit` / `bench._measure` at two batch
# sizes, the difference over the difference): ~1.0 MB per training problem, ~0.24 MB per
# benchmarked problem, on top of ~0.6 GB for the runtime itself. Rounded up.
BASE_BYTES = 700e6
TRAINING_BYTES_PER_PROBLEM = 1.1e6
BENCH_BYTES_PER_PROBLEM = 0.3e6
MEMORY_SHARE = 0.5  # a job may plan to use at most this share of the memory available now


def check_writable_file(path) -> None:
    """Raise a clear `OSError` unless a file could be created at `path` (before any work is done).

    Raises:
        IsADirectoryError: `path` is a directory.
        NotADirectoryError: an existing parent of `path` is a file.
        PermissionError: the nearest existing folder above `path` is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file name")
    check_writable_dir(path.parent)


def check_writable_dir(folder) -> None:
    """Raise a clear `OSError` unless `folder` exists as a writable folder or could be created.

    Raises:
        NotADirectoryError: `folder` or one of its parents is a file.
        PermissionError: the nearest existing folder is not writable.
    """
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{existing} is a file, not a folder")
    try:  # try it: os.access says yes to root even where nothing can be created (/proc)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write in {existing} ({error.strerror or error})") from None


def available_memory_bytes() -> float:
    """Memory available to a new job now (Linux `MemAvailable`; else the physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def training_memory_bytes(batch_size: int) -> float:
    """Estimated peak memory of a training with `batch_size` problems per step."""
    return BASE_BYTES + TRAINING_BYTES_PER_PROBLEM * batch_size


def bench_memory_bytes(batch_size: int) -> float:
    """Estimated peak memory of `python -m core bench --batch-size batch_size`."""
    return BASE_BYTES + BENCH_BYTES_PER_PROBLEM * batch_size


def check_memory(name: str, value: int, needed_bytes: float, available_bytes: float | None = None) -> None:
    """Raise `MemoryError` naming `name` unless `needed_bytes` fits in the memory available now.

    Raises:
        MemoryError: the job would need more than `MEMORY_SHARE` of the available memory.
    """
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if needed_bytes > MEMORY_SHARE * available:
        raise MemoryError(
            f"{name} {value} would need about {needed_bytes / 1e9:.1f} GB of memory; "
            f"{available / 1e9:.1f} GB are available now: use a smaller {name}"
        )
