"""The trained FourDVarNets the dashboard offers: shipped ones and the user's own.

Shipped models live in `assets/models/*.eqx` (read only), the generalisation sweep's in
`assets/models/sweep/*.eqx` (listed after them, keys "assets/sweep/<file>", see
`sweep_model_key`). Models trained from the dashboard are
saved under the user cache directory, `$XDG_CACHE_HOME/l63-fourdvarnet/models` (or
`~/.cache/...`), never over the assets, so they survive a server restart. A missing or corrupt file
is skipped with one warning in the log, and not read again until it changes. With no model at all,
an untrained FourDVarNet labelled "untrained" keeps the page working.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import core
from core.io.paths import user_cache
from core.nets.model_files import SHIPPED_MODELS, model_file_name
from dashboard.views.page_text import hide_paths
from dashboard.views.train_verdict import Verdict

log = logging.getLogger(__name__)

ASSETS_DIR = SHIPPED_MODELS
SWEEP_SUBDIR = "sweep"  # the generalisation sweep's models: core.studies.sweep.SHIPPED
UNTRAINED = "untrained"


def sweep_model_key(preset: str, name: str) -> str:
    """The registry key of the sweep's model `name` (e.g. "every5", "mixed_every")."""
    return f"assets/{SWEEP_SUBDIR}/{model_file_name(preset, name)}"


def user_model_dir() -> Path:
    """Where models trained from the dashboard are saved (created on first save)."""
    return user_cache("models")


@dataclass
class ModelEntry:
    key: str  # "assets/<file>", "user/<file>" or "untrained"
    label: str  # what the selector shows: source and what it was trained on
    architecture: str
    model: object = field(repr=False)
    config: core.TrainingConfig | None = None
    info: dict = field(default_factory=dict)
    version: float = 0.0  # the file's mtime: a new file under the same name is a new model


def _describe(config: core.TrainingConfig, info: dict, source: str, name: str) -> str:
    arch = "reference FourDVarNet" if config.architecture == "fourdvarnet_reference" else "FourDVarNet"
    if source == "yours":  # the student's name for it, where it started, its verdict (train_verdict.py)
        given = info.get("name") if isinstance(info.get("name"), str) else name
        start = {"shipped": ", fine-tuned from the shipped model", "scratch": ", from scratch"}.get(
            info.get("start_from"), ""
        )
        verdict = Verdict.from_json(info.get("verdict"))
        judged = f"; {verdict.summary()}" if verdict is not None else ""
        return f"yours: {given} ({arch} on {config.label()}, {config.steps} steps{start}{judged})"
    loss = info.get("final_loss")
    extra = f", {config.steps} steps" + (f", loss {loss:.3g}" if isinstance(loss, (int, float)) else "")
    return f"{source}: {arch} trained on {config.label()}{extra} ({name})"


def owner_of(entry: ModelEntry) -> str | None:
    """Who may list `entry`: None for everyone (shipped models), else the owner id ("" for the local
    user: models saved by scripts and tests, or before models had owners)."""
    if not entry.key.startswith("user/"):
        return None
    owner = entry.info.get("owner", "")
    return owner if isinstance(owner, str) else ""


def _natural(path: Path) -> list:
    """Sort key: "every2" before "every10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class ModelRegistry:
    """Thread-safe, process-wide list of models; rescans its folders when they change."""

    def __init__(self, assets_dir: Path = ASSETS_DIR, user_dir: Path | None = None):
        self.assets_dir = Path(assets_dir)
        self._user_dir = user_dir
        self._lock = threading.RLock()
        self._entries: dict[str, ModelEntry] = {}
        self._stamp: tuple | None = None
        self.skipped: list[str] = []  # human messages about files that could not be loaded
        self._failed: dict[str, tuple[tuple, str]] = {}  # key -> ((mtime_ns, size), message) of those files
        self.generation = 0  # bumps whenever the list of models changes
        self._last_check = 0.0

    @property
    def user_dir(self) -> Path:
        return self._user_dir if self._user_dir is not None else user_model_dir()

    def _folders(self) -> tuple[tuple[str, str, Path], ...]:
        """(source shown in the label, key prefix, folder), in listing order: defaults first."""
        return (
            ("shipped", "assets", self.assets_dir),
            ("sweep", f"assets/{SWEEP_SUBDIR}", self.assets_dir / SWEEP_SUBDIR),
            ("yours", "user", self.user_dir),
        )

    def _folder_stamp(self) -> tuple:
        stamp = []
        for _, _, folder in self._folders():
            try:
                stamp.append(
                    (
                        str(folder),
                        tuple(sorted((p.name, p.stat().st_mtime, p.stat().st_size) for p in folder.glob("*.eqx"))),
                    )
                )
            except OSError:
                stamp.append((str(folder), ()))
        return tuple(stamp)

    def refresh(self, force: bool = False) -> bool:
        """Rescan the folders if anything changed; True if the list of models changed."""
        with self._lock:
            stamp = self._folder_stamp()
            if stamp == self._stamp and not force:
                return False
            entries: dict[str, ModelEntry] = {}
            skipped: list[str] = []
            failed: dict[str, tuple[tuple, str]] = {}
            for source, prefix, folder in self._folders():
                for path in sorted(folder.glob("*.eqx"), key=_natural) if folder.is_dir() else []:
                    key = f"{prefix}/{path.name}"
                    try:
                        stat = path.stat()
                    except OSError:  # removed meanwhile
                        continue
                    version, file_stamp = stat.st_mtime, (stat.st_mtime_ns, stat.st_size)
                    if key in self._failed and self._failed[key][0] == file_stamp:  # said once already
                        failed[key] = self._failed[key]
                        skipped.append(failed[key][1])
                        continue
                    try:
                        old = self._entries.get(key)
                        if old is not None and old.version == version:
                            entries[key] = old
                            continue
                        model, header = core.load_model(path)  # (its header checked by core.read_model_header)
                        config = core.TrainingConfig.from_json(header["config"])
                        info = header.get("info", {})
                        entries[key] = ModelEntry(
                            key=key,
                            label=_describe(config, info, source, path.stem),
                            architecture=config.architecture,
                            model=model,
                            config=config,
                            info=info,
                            version=version,
                        )
                    except Exception as error:  # noqa: BLE001 - one odd file must never blank every page
                        message = hide_paths(f"skipped model file {path.name}: {error.__class__.__name__}: {error}")
                        failed[key] = (file_stamp, message)
                        skipped.append(message)
                        log.warning(message)  # once per change of the file: the next scans skip it unread
            if not entries:
                old = self._entries.get(UNTRAINED)
                entries[UNTRAINED] = old or ModelEntry(
                    key=UNTRAINED,
                    label="untrained FourDVarNet (no trained model found)",
                    architecture="fourdvarnet",
                    model=core.build_model(core.TrainingConfig()),
                    config=core.TrainingConfig(),
                )
            changed = list(entries) != list(self._entries) or any(
                entries[k] is not self._entries.get(k) for k in entries
            )
            self._entries, self._stamp, self.skipped, self._failed = entries, stamp, skipped, failed
            if changed:
                self.generation += 1
            return changed

    def maybe_refresh(self, min_interval_s: float = 2.0) -> bool:
        """`refresh()`, at most once every `min_interval_s` per process (sessions poll this)."""
        now = time.monotonic()
        if now - self._last_check < min_interval_s:
            return False
        self._last_check = now
        return self.refresh()

    def entries(self) -> dict[str, ModelEntry]:
        with self._lock:
            if self._stamp is None:
                self.refresh()
            return dict(self._entries)

    def entries_for(self, owner: str = "") -> dict[str, ModelEntry]:
        """The models `owner` may list: every shipped one, and of the trained ones only theirs."""
        return {key: e for key, e in self.entries().items() if owner_of(e) in (None, owner)}

    def options(self, owner: str = "") -> dict[str, str]:
        """label -> key, for a selector: the models `owner` may list (labels made unique)."""
        options: dict[str, str] = {}
        for e in self.entries_for(owner).values():
            label, n = e.label, 2
            while label in options:  # the same name and settings twice: both listed, told apart
                label, n = f"{e.label} #{n}", n + 1
            options[label] = e.key
        return options

    def default_key(self) -> str:
        entries = self.entries()
        for key in entries:  # prefer a shipped model of our architecture, trained on the attractor
            e = entries[key]
            if (
                key.startswith("assets/")
                and e.architecture == "fourdvarnet"
                and e.config
                and e.config.preset == "attractor"
            ):
                return key
        return next(iter(entries))

    def resolve(self, key: str) -> str:
        entries = self.entries()
        if key in entries:
            return key
        if not key:
            return self.default_key()
        self.refresh()
        if key in self._entries:
            return key
        raise ValueError(f"model {key!r} is not available (its file may have been removed)")

    def get(self, key: str) -> ModelEntry:
        return self.entries()[self.resolve(key)]

    def version_of(self, key: str) -> float:
        return self.entries()[key].version

    def save_trained(self, model, config: core.TrainingConfig, info: dict) -> ModelEntry:
        """Save a freshly trained model under the user folder (a new file) and list it."""
        path = self.save_file(model, config, info)
        self.refresh(force=True)
        return self.entries()[f"user/{path.name}"]

    def save_file(self, model, config: core.TrainingConfig, info: dict, stem: str | None = None) -> Path:
        """Save a trained model under the user folder as a new file (never over another); its path.

        The file is named after `stem` (e.g. the student's name for it, checked by
        `owners.check_model_name`) or else the config's label, then the date and time.
        """
        slug = re.sub(r"[^a-z0-9]+", "-", (stem or config.label()).lower()).strip("-")[:60] or "model"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 1000):
            path = self.user_dir / (f"{slug}-{stamp}.eqx" if n == 1 else f"{slug}-{stamp}-{n}.eqx")
            try:  # never replaces a file: another process may save under the same name in the same second
                core.save_model(path, model, config, info=info)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free file name for {slug}-{stamp} in {self.user_dir}")
        return path


registry = ModelRegistry()
