"""Model files: one JSON line (architecture, hyper-parameters, training settings, results) followed
by the weights as written by `eqx.tree_serialise_leaves`, so a file describes itself; saved without
ever replacing another model, loaded with a typed error for anything amiss."""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from core.io.paths import REPOSITORY
from core.io.resources import check_writable_file
from core.io.shared_files import SharedFileError, json_type, mapping, read_json
from core.nets.training import build_model
from core.nets.training_config import TrainingConfig

# The shipped, read-only models (the sweep's are in its "sweep" subfolder).
SHIPPED_MODELS = REPOSITORY / "assets" / "models"
FILE_FORMAT = "l63-fourdvarnet-model"
FILE_VERSION = 1


def model_file_name(preset: str, name: str) -> str:
    """How shipped model files are named: "fourdvarnet_attractor_every5.eqx"."""
    return f"fourdvarnet_{preset}_{name}.eqx"


def shipped_model_path(preset: str, name: str = "every5", directory: Path = SHIPPED_MODELS) -> Path:
    return directory / model_file_name(preset, name)


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or of another architecture than asked for."""


TMP_SUFFIX = ".eqx.tmp"
STALE_TMP_S = 3600.0  # a temporary file older than this was left by a crash: removed by the next save


def save_model(path, model, config: TrainingConfig, *, info: dict | None = None, overwrite: bool = False) -> Path:
    """Write `model` with its config (and `info`: loss, training time...) to `path`.

    The file is written under a temporary name unique to this call (`<stem>.<pid>-<random>.eqx.tmp`,
    so two processes saving at once never share one), then linked to `path` in one step: another
    model that appeared at `path` meanwhile is never replaced unless `overwrite`. Temporary files
    left by crashes (older than an hour) are removed.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False (nothing is silently replaced).
        IsADirectoryError: `path` is a directory.
        NotADirectoryError: a parent of `path` is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file name")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--force) to replace it")
    header = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "config": config.to_json(),
        "info": info or {},
    }
    check_writable_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    buffer = io.BytesIO()
    buffer.write((json.dumps(header) + "\n").encode())
    eqx.tree_serialise_leaves(buffer, model)
    # Write, then link or rename: a crash never leaves half a file under the final name.
    fd, tmp_name = tempfile.mkstemp(prefix=f"{path.stem}.{os.getpid()}-", suffix=TMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # as an ordinary new file (mkstemp makes it 0600)
            f.write(buffer.getvalue())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if `path` exists: never replaces another model
            except FileExistsError:
                raise FileExistsError(f"{path} exists; pass overwrite=True (--force) to replace it") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise FileExistsError(f"{path} exists; pass overwrite=True (--force) to replace it") from None
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder, max_age_s: float = STALE_TMP_S) -> list[Path]:
    """Remove `*.eqx.tmp` files older than `max_age_s` in `folder` (left by crashed saves); returns them.

    A younger one may belong to a save in progress in another process, and is left alone.
    """
    removed = []
    now = time.time()
    for tmp in Path(folder).glob(f"*{TMP_SUFFIX}"):
        try:
            if now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


HEADER_MAX_BYTES = 1_000_000  # a header is ~0.5 kB; the weights follow it


def _check_header(raw) -> dict:
    if not isinstance(raw, dict) or raw.get("format") != FILE_FORMAT:
        raise ValueError("bad or missing header")
    TrainingConfig.from_json(mapping(raw.get("config"), '"config"'))  # (its own range checks)
    if not isinstance(raw.get("info", {}), dict):
        raise ValueError(f"its header's info is {json_type(raw['info'])}, not a mapping")
    return raw


def read_model_header(path) -> dict:
    """The JSON header of a model file, without loading its weights (through the shared-file reader:
    its first line only, up to `HEADER_MAX_BYTES`, parsed once per change of the file; treat it as read-only)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    try:
        return read_json(path, _check_header, max_bytes=HEADER_MAX_BYTES, first_line=True, allow_constants=True)
    except (OSError, SharedFileError) as error:
        raise ModelFileError(f"{str(path)!r} is not a FourDVarNet model file ({error})") from None


def load_model(path, *, architecture: str | None = None):
    """Load `(model, header)` from a file written by `save_model`.

    Raises:
        ModelFileError: the file is missing, corrupt, truncated, or not of `architecture`.
    """
    header = read_model_header(path)
    config = TrainingConfig.from_json(header["config"])
    if architecture is not None and config.architecture != architecture:
        raise ModelFileError(f"{str(path)!r} holds a {config.architecture} model, not a {architecture} model")
    skeleton = build_model(config, key=jax.random.PRNGKey(0))
    with Path(path).open("rb") as f:
        f.readline(HEADER_MAX_BYTES + 1)
        try:
            model = eqx.tree_deserialise_leaves(f, skeleton)
            trailing = f.read(1)
        except Exception as error:
            raise ModelFileError(f"{str(path)!r} is corrupt or truncated ({error.__class__.__name__})") from None
    if trailing:
        raise ModelFileError(f"{str(path)!r} is corrupt: unexpected bytes after the weights")
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))
    if not all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in leaves):
        raise ModelFileError(f"{str(path)!r} is corrupt: its weights are not all finite")
    return model, header


def config_of(header: dict) -> TrainingConfig:
    return TrainingConfig.from_json(header["config"])
