"""The generalisation sweep: agreement with `evaluate`, the Dask path equals the in-process path."""

import jax
import numpy as np
import pytest

import core
from core.studies.reproduce import evaluate_model
from core.studies.reproduce import test_problems as sweep_test_problems
from core.studies.sweep import SweepPlan, evaluate_sweep, sweep, train_models, training_jobs

# Every test here trains (and the fixture evaluates every registered method): ~3 minutes in all, so the
# file sits outside the README's command and CI runs it in a step of its own (.ci/run).
pytestmark = [pytest.mark.slow, pytest.mark.ci]

TINY = {"hidden_dim": 4}


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    plan = SweepPlan(
        train_densities=(5,),
        test_densities=(2, 5),
        test_noises=(0.5,),
        test_components=((0,),),
        n_problems=8,
        steps=3,
        hyperparameters=TINY,
    )
    save_dir = tmp_path_factory.mktemp("sweep_models")
    return plan, sweep(plan, use_shipped=False, save_dir=save_dir), save_dir


def test_trained_models_are_saved_and_never_overwritten_silently(tiny_sweep):
    plan, _, save_dir = tiny_sweep
    saved = sorted(p.name for p in save_dir.iterdir())
    assert saved == sorted(f"fourdvarnet_attractor_{n}.eqx" for n in ("every5", "mixed_every", "mixed_components"))
    model, header = core.load_model(save_dir / "fourdvarnet_attractor_every5.eqx")
    assert core.TrainingConfig.from_json(header["config"]) == plan.configs()["every5"]
    before = {p.name: p.read_bytes() for p in save_dir.iterdir()}
    with pytest.raises(FileExistsError, match="--force"):
        sweep(plan, use_shipped=False, save_dir=save_dir)
    assert {p.name: p.read_bytes() for p in save_dir.iterdir()} == before


def test_rows_cover_every_model_and_setting_with_4dvar_as_reference(tiny_sweep):
    plan, payload, _ = tiny_sweep
    rows = payload["rows"]
    density_rows = [r for r in rows if r["axis"] == "density"]
    # Every registered classical method (4DVar among them) and every model of the plan.
    expected = {*core.build_methods(core.MethodContext(), learned=False), "every5", "mixed_every", "mixed_components"}
    assert {r["model"] for r in rows} == expected
    assert {(r["model"], r["test_obs_every"]) for r in density_rows} == {(m, e) for m in expected for e in (2, 5)}
    for r in rows:
        if r["model"] == "strong_4dvar":
            assert r["ratio_to_4dvar"] == pytest.approx(1.0)
    assert any("mixed" in str(r["train_obs_every"]) for r in rows if r["model"] == "mixed_every")
    # The quantiles are those of 4DVar's per-problem RMSEs, computed here from the raw trajectories.
    for r in (r for r in density_rows if r["model"] == "strong_4dvar"):
        problems = sweep_test_problems(plan.key, plan.n_problems, preset=plan.preset, obs_every=r["test_obs_every"])
        trajectories = core.evaluate(core.Strong4DVar(), problems, timing=None).trajectory
        window = problems.T_assim + 1
        errors = np.asarray(trajectories)[:, :window] - np.asarray(problems.truth)[:, :window]
        per_problem = np.sort(np.sqrt(np.mean(errors.astype(np.float64) ** 2, axis=(1, 2))))
        for name, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9)):
            assert r[f"rmse_assim_{name}"] == pytest.approx(_quantile(per_problem, q), rel=1e-5), name


def _quantile(ascending: np.ndarray, q: float) -> float:
    """The q-quantile of a sorted sample, linear between the two order statistics around q (n - 1)."""
    position = q * (len(ascending) - 1)
    below = int(np.floor(position))
    above = min(below + 1, len(ascending) - 1)
    return float(ascending[below] + (position - below) * (ascending[above] - ascending[below]))


def test_a_model_at_its_own_density_matches_evaluate(tmp_path):
    plan = SweepPlan(
        train_densities=(5,),
        test_densities=(5,),
        test_noises=(),
        test_components=(),
        n_problems=8,
        steps=3,
        hyperparameters=TINY,
    )
    models = train_models({"every5": plan.configs()["every5"]})
    rows = evaluate_sweep(models, plan)
    model, config = models["every5"]
    path = core.save_model(tmp_path / "every5.eqx", model, config)
    evaluated = evaluate_model(path, obs_every=5, n_problems=plan.n_problems, key=plan.key)
    by_model = {r["model"]: r for r in rows}
    assert {"strong_4dvar", "every5"} <= set(by_model)
    assert by_model["every5"]["rmse_assim_median"] == pytest.approx(
        evaluated["model_stats"]["rmse_assim"]["median"], rel=1e-6
    )
    assert by_model["strong_4dvar"]["rmse_assim_median"] == pytest.approx(
        evaluated["strong_4dvar_stats"]["rmse_assim"]["median"], rel=1e-6
    )
    assert by_model["every5"]["ratio_to_4dvar"] == pytest.approx(evaluated["ratio_rmse_assim_median"], rel=1e-6)


def test_dask_training_equals_in_process_training():
    configs = {
        "a": core.TrainingConfig(steps=2, batch_size=4, hyperparameters=TINY),
        "b": core.TrainingConfig(steps=2, batch_size=4, obs_every=(10,), seed=3, hyperparameters=TINY),
        "c": core.TrainingConfig(steps=2, batch_size=4, obs_every=(2, 20), hyperparameters=TINY),
    }
    local = train_models(configs)
    distributed = train_models(configs, workers=2)
    for name in configs:
        a = jax.tree_util.tree_leaves(local[name][0])
        b = jax.tree_util.tree_leaves(distributed[name][0])
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_models_alike_train_together_as_they_would_alone():
    """Vmapped together or one by one, the same training: in float64, where rounding stays far below
    the tolerance. (In float32 it does not: Adam's first steps divide each gradient by its own size,
    so a component that is rounding noise moves its weight by a full learning rate, ~1e-3.)"""
    configs = {
        f"every{e}": core.TrainingConfig(steps=2, batch_size=4, obs_every=(e,), hyperparameters=TINY) for e in (2, 5)
    }
    assert training_jobs(configs) == [["every2", "every5"]]
    with jax.enable_x64(True):
        together = train_models(configs)
        for name, config in configs.items():
            alone, _ = core.fit(config)
            leaves = jax.tree_util.tree_leaves(together[name][0]), jax.tree_util.tree_leaves(alone)
            for x, y in zip(*leaves, strict=True):
                assert x.dtype == y.dtype and (x.dtype != np.float32 or x.ndim == 0)  # every weight in float64
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)
