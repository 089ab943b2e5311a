"""A persistent JAX compilation cache for the dashboard, under the user's cache folder.

Every server process (a restart, each of `--num-procs`, `python -m dashboard.server.warmup`) compiles the
same few programs. With this cache the first process writes them to
`$XDG_CACHE_HOME/l63-fourdvarnet/jax` (default `~/.cache/...`) and every later one loads them
instead of compiling: a restart's first page is drawn in about the time a warm one takes.
`L63_JAX_CACHE=off` turns it off; `L63_JAX_CACHE=<folder>` puts it elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax

from core.io.paths import user_cache

log = logging.getLogger(__name__)


def cache_dir() -> Path | None:
    """The folder of the cache (None when turned off with L63_JAX_CACHE=off)."""
    chosen = os.environ.get("L63_JAX_CACHE", "")
    if chosen.lower() in ("off", "0", "no", "false"):
        return None
    if chosen:
        return Path(chosen)
    return user_cache("jax")


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at `cache_dir()`; call before the first compile.

    The dashboard's programs are small (a 4DVar solve compiles in ~0.3-1 s), below JAX's default
    thresholds for caching (1 s of compile), so both thresholds are lowered: every program is kept.

    Returns:
        The cache folder, or None if the cache is off or the folder cannot be created.
    """
    folder = cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("no JAX compilation cache (%s): every process compiles on its own", exc)
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
