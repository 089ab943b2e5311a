"""The generalisation sweep: models trained at one density (or on a mix) tested at many.

Every model and strong 4DVar are scored on the very same test problems (vmapped), at each test
setting, along three axes: observation density, observation noise and observed components.
Training jobs are independent: they run in this process by default, or on a Dask cluster.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from core.da.evaluation import evaluate, summarize
from core.da.registry import MethodContext, build_methods
from core.methods.learned import learned_method
from core.nets.model_files import SHIPPED_MODELS, config_of, load_model, model_file_name, save_model, shipped_model_path
from core.nets.training import TrainingConfig, build_model, fit, fit_many, vmap_signature
from core.studies.reproduce import test_problems

# The sweep's own shipped models: all trained with the same budget, so that they compare fairly.
SHIPPED = SHIPPED_MODELS / "sweep"
MIXED_DENSITIES = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25)
MIXED_COMPONENTS = ((0, 1, 2), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))


@dataclass(frozen=True)
class SweepPlan:
    """What to train and where to test. Defaults: the full sweep (README, Generalisation)."""

    train_densities: tuple[int, ...] = (2, 5, 10, 20)
    test_densities: tuple[int, ...] = (2, 3, 5, 8, 10, 15, 20, 25)
    test_noises: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)
    test_components: tuple[tuple[int, ...], ...] = ((0, 1, 2), (0, 1), (0, 2), (0,), (1,), (2,))
    n_problems: int = 256
    steps: int = 3000
    preset: str = "attractor"
    key: int = 2026
    window: int = 50  # the test window; the models are trained on 50-step windows whatever it is
    hyperparameters: dict = field(default_factory=dict)
    # The methods' model and the truth's noise (`--model-rho`, `--model-noise`): the test problems and
    # the trainings share them (Lorenz-63 only: the sweep's axes and shipped models are Lorenz-63's).
    mismatch: dict = field(default_factory=dict)

    def configs(self) -> dict[str, TrainingConfig]:
        """Model name -> its training config; names match the shipped files in assets/models."""
        base = dict(preset=self.preset, steps=self.steps, hyperparameters=dict(self.hyperparameters), **self.mismatch)
        named = {f"every{e}": TrainingConfig(obs_every=(e,), **base) for e in self.train_densities}
        named["mixed_every"] = TrainingConfig(obs_every=MIXED_DENSITIES, **base)
        named["mixed_components"] = TrainingConfig(observed=MIXED_COMPONENTS, **base)
        return named


QUICK_PLAN = SweepPlan(
    train_densities=(2, 5, 20),
    test_densities=(2, 5, 10, 20),
    test_noises=(0.25, 0.5, 1.0),
    test_components=((0, 1, 2), (0,)),
    n_problems=64,
    steps=40,
)


def _shipped(name: str, config: TrainingConfig, directory: Path):
    """A shipped model trained on the same data settings as `config`, or None."""
    path = shipped_model_path(config.preset, name, directory)
    if not path.exists():
        return None
    model, header = load_model(path, architecture="fourdvarnet")
    shipped = config_of(header)
    same_data = (shipped.obs_every, shipped.obs_noise, shipped.observed, shipped.problem_settings()) == (
        config.obs_every,
        config.obs_noise,
        config.observed,
        config.problem_settings(),
    )
    return (model, shipped) if same_data else None


def train_job(configs: Sequence[TrainingConfig]) -> list[bytes]:
    """One training job: configs alike but for their data train together (`fit_many`); the models
    come back as bytes, which is what a Dask worker sends."""
    trained = fit_many(configs) if len(configs) > 1 else [fit(configs[0])]
    out = []
    for model, _ in trained:
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, model)
        out.append(buffer.getvalue())
    return out


def _from_bytes(data: bytes, config: TrainingConfig):
    return eqx.tree_deserialise_leaves(io.BytesIO(data), build_model(config, key=jax.random.PRNGKey(0)))


def training_jobs(configs: dict[str, TrainingConfig]) -> list[list[str]]:
    """Model names grouped into jobs: those `fit_many` can train together share one job."""
    groups: dict[tuple, list[str]] = {}
    for name, config in configs.items():
        groups.setdefault(vmap_signature(config), []).append(name)
    return list(groups.values())


def load_shipped(
    configs: dict[str, TrainingConfig], directory: Path = SHIPPED, log: Callable[[str], None] = lambda _: None
) -> tuple[dict, dict[str, TrainingConfig]]:
    """Split `configs` into (name -> (model, config) of the shipped models that match, the rest)."""
    found, missing = {}, {}
    for name, config in configs.items():
        shipped = _shipped(name, config, directory)
        if shipped is None:
            missing[name] = config
        else:
            log(f"{name}: loaded the shipped model ({shipped[1].steps} steps)")
            found[name] = shipped
    return found, missing


def train_models(
    to_train: dict[str, TrainingConfig],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, tuple[object, TrainingConfig]]:
    """name -> (model, config), trained in jobs (see `training_jobs`): in this process, on the Dask
    scheduler at `scheduler`, or on a local cluster of `workers` processes. The jobs are the same
    either way, and so are the weights."""
    models: dict = {}
    jobs = training_jobs(to_train)
    for names in jobs:
        log(f"training {', '.join(names)}: {to_train[names[0]].steps} steps")
    if scheduler is None and workers is None:
        results = [train_job([to_train[n] for n in names]) for names in jobs]
    else:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ValueError(
                "--workers and --scheduler need Dask: pip install 'dask[distributed]' (or the [dask] extra)"
            ) from None

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) if scheduler is None else None
        with Client(scheduler if scheduler is not None else cluster) as client:
            log(f"on Dask ({client.scheduler.address})")
            futures = [client.submit(train_job, [to_train[n] for n in names], pure=False) for names in jobs]
            results = client.gather(futures)
        if cluster is not None:
            cluster.close()
    for names, blobs in zip(jobs, results, strict=True):
        for name, blob in zip(names, blobs, strict=True):
            models[name] = (_from_bytes(blob, to_train[name]), to_train[name])
    return models


def _rows_for(axis: str, problems, models: dict, test_settings: dict) -> list[dict]:
    """One row per registered classical method (strong 4DVar, the reference of every ratio, among
    them) and per model, all scored on the same `problems`."""
    entries = [(name, None, method) for name, method in build_methods(MethodContext(), learned=False).items()]
    entries += [(name, config, learned_method(model)) for name, (model, config) in models.items()]
    evaluations = {name: evaluate(method, problems, timing=None) for name, _, method in entries}
    reference_median = float(np.median(evaluations["strong_4dvar"].rmse_assim))
    rows = []
    for name, config, _ in entries:
        e = evaluations[name]
        assim, forecast = summarize(e.rmse_assim), summarize(e.rmse_forecast)
        rows.append(
            {
                "axis": axis,
                "model": name,
                "train_obs_every": None if config is None else _label(config.obs_every),
                "train_obs_noise": None if config is None else _label(config.obs_noise),
                "train_observed": None if config is None else _components_label(config.observed),
                **test_settings,
                "rmse_assim_median": assim["median"],
                "rmse_assim_p10": assim["p10"],
                "rmse_assim_p90": assim["p90"],
                "rmse_forecast_median": forecast["median"],
                "rmse_forecast_p10": forecast["p10"],
                "rmse_forecast_p90": forecast["p90"],
                "ratio_to_4dvar": assim["median"] / reference_median,
            }
        )
    return rows


def _label(values: Sequence) -> str | int | float:
    return values[0] if len(values) == 1 else "mixed:" + "/".join(f"{v:g}" for v in values)


def _components_label(observed) -> str:
    return "/".join("".join("xyz"[c] for c in comp) for comp in observed)


def evaluate_sweep(models: dict, plan: SweepPlan) -> list[dict]:
    """Rows for every model and strong 4DVar on shared test problems, along the three axes."""
    rows: list[dict] = []
    base = dict(test_obs_every=5, test_obs_noise=0.5, test_observed="xyz")

    def problems_with(**settings):
        # The same test set as `python -m core evaluate --key plan.key`, so their figures agree.
        return test_problems(
            plan.key, plan.n_problems, preset=plan.preset, T_assim=plan.window, **plan.mismatch, **settings
        )

    for every in [e for e in plan.test_densities if e <= plan.window]:
        problems = problems_with(obs_every=every)
        rows += _rows_for("density", problems, models, {**base, "test_obs_every": every})
    for noise in plan.test_noises:
        problems = problems_with(obs_noise=noise)
        rows += _rows_for("noise", problems, models, {**base, "test_obs_noise": noise})
    for observed in plan.test_components:
        problems = problems_with(observed=observed)
        label = "".join("xyz"[c] for c in observed)
        rows += _rows_for("components", problems, models, {**base, "test_observed": label})
    return rows


def sweep(
    plan: SweepPlan = SweepPlan(),
    *,
    use_shipped: bool = True,
    scheduler: str | None = None,
    workers: int | None = None,
    save_dir: Path | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Train (or load) the plan's models, evaluate them and strong 4DVar; returns {"rows": [...]}.

    With `save_dir`, the models it trained (not those it loaded) are saved there under the shipped files' names (an
    existing file is kept unless `overwrite`: checked before any training starts).
    """
    configs = plan.configs()
    models, missing = load_shipped(configs, log=log) if use_shipped else ({}, configs)
    if save_dir is not None and not overwrite:
        # Checked before any training starts, so a refusal costs nothing.
        taken = [p for p in (Path(save_dir) / model_file_name(plan.preset, n) for n in missing) if p.exists()]
        if taken:
            raise FileExistsError(f"{taken[0]} exists; pass --force to overwrite the sweep's models in {save_dir}")
    trained = train_models(missing, scheduler=scheduler, workers=workers, log=log)
    models.update(trained)
    if save_dir is not None:
        for name, (model, config) in trained.items():
            path = Path(save_dir) / model_file_name(plan.preset, name)
            save_model(path, model, config, info={"trained_by": "python -m core sweep"}, overwrite=True)
            log(f"saved {path}")
    return {"n_problems": plan.n_problems, "preset": plan.preset, "rows": evaluate_sweep(models, plan)}


def format_sweep(payload: dict) -> str:
    """The density axis as a table of median rmse_assim ratios to 4DVar; the other axes below it."""
    lines = [f"sweep over {payload['n_problems']} test problems ({payload['preset']}): median rmse_assim / 4DVar's"]
    for axis, key in (("density", "test_obs_every"), ("noise", "test_obs_noise"), ("components", "test_observed")):
        rows = [r for r in payload["rows"] if r["axis"] == axis]
        tests = list(dict.fromkeys(r[key] for r in rows))
        lines += ["", f"{'model / test ' + axis:<22}" + "".join(f"{str(t):>8}" for t in tests)]
        for model in dict.fromkeys(r["model"] for r in rows):
            cells = {r[key]: r for r in rows if r["model"] == model}
            if model == "strong_4dvar":
                values = "".join(f"{cells[t]['rmse_assim_median']:>8.3f}" for t in tests)
                lines.append(f"{'4DVar rmse_assim':<22}{values}")
            else:
                lines.append(f"{model:<22}" + "".join(f"{cells[t]['ratio_to_4dvar']:>8.2f}" for t in tests))
    return "\n".join(lines)
