"""FourDVarNet: the reference architecture's size, training lowers the loss, our model's building
blocks against hand values, no retrace on K or density, save/load round trips and clear errors."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import core
from core.nets.training import REFERENCE_CONFIG, training_batch_for


def _parameter_count(model):
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)))


def reference_batch(n_problems: int):
    """The reference notebook's training set (seed preset, keys from split(key 1)), n problems."""
    return training_batch_for(dataclasses.replace(REFERENCE_CONFIG, batch_size=n_problems))


def test_reference_architecture_has_about_29k_parameters():
    model = core.FourDVarNet1D(
        state_dim=3, n_time=51, latent_dim=8, hidden_dim=16, n_solver_steps=5, key=jax.random.PRNGKey(0)
    )
    # 2 x (153 x 8 + 8) encoder + (8 x 153 + 153) decoder + (118 x 64 x 3 + 64) gates + (16 x 51 x 3 + 51) output.
    assert _parameter_count(model) == 2 * (153 * 8 + 8) + (8 * 153 + 153) + (118 * 64 * 3 + 64) + (16 * 51 * 3 + 51)
    batch = reference_batch(4)
    assert model(batch).shape == (4, 51, 3)


@pytest.mark.ci  # ~11 s: a training step compiled for the reference architecture
def test_reference_training_lowers_the_loss():
    model = core.FourDVarNet1D(key=jax.random.PRNGKey(0))
    batch = reference_batch(8)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    losses = []
    for _ in range(15):
        model, opt_state, loss = core.train_step(model, batch, optimizer, opt_state)
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.slow
@pytest.mark.ci  # ~20 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_our_training_lowers_the_loss_and_reports_progress():
    seen = []
    config = core.TrainingConfig(steps=12, batch_size=8, hyperparameters={"hidden_dim": 8})
    model, report = core.fit(config, callback=lambda step, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == list(range(1, 13))
    assert np.mean(report.losses[-3:]) < 0.7 * report.losses[0]
    assert isinstance(model, core.FourDVarNet)


def test_interpolation_recovers_a_linear_signal_and_falls_back_to_the_background():
    t = jnp.arange(51.0)[:, None]
    signal = jnp.concatenate([2.0 * t, -t + 3.0, jnp.zeros_like(t)], axis=1)
    mask = jnp.zeros((51, 3)).at[::5, :2].set(1.0)
    estimate = core.interpolate_observations(mask * signal, mask, jnp.array([0.0, 0.0, 7.0]))
    np.testing.assert_allclose(estimate[:, :2], signal[:, :2], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(estimate[:, 2], 7.0)


def test_dynamical_residual_vanishes_on_a_true_trajectory_only():
    problem = core.generate_problem(jax.random.PRNGKey(2))
    assert np.abs(np.asarray(core.dynamical_residual(problem.truth_window, problem))).max() < 1e-3
    assert (
        np.abs(
            np.asarray(
                core.dynamical_residual(problem.truth_window + 0.5 * jnp.sin(jnp.arange(51.0))[:, None], problem)
            )
        ).max()
        > 0.1
    )


def test_our_cost_gradient_matches_finite_differences():
    model = core.FourDVarNet(hidden_dim=4, key=jax.random.PRNGKey(0))
    problem = core.generate_problem(jax.random.PRNGKey(3))
    x = problem.truth_window + 0.05 * jax.random.normal(jax.random.PRNGKey(4), (51, 3))
    gradient = jax.grad(model.cost)(x, problem)
    direction = jax.random.normal(jax.random.PRNGKey(5), (51, 3))
    h = 1e-3
    finite = (model.cost(x + h * direction, problem) - model.cost(x - h * direction, problem)) / (2 * h)
    np.testing.assert_allclose(jnp.sum(gradient * direction), finite, rtol=2e-2)


def test_changing_k_or_density_does_not_retrace(monkeypatch):
    model = core.FourDVarNet(hidden_dim=4, key=jax.random.PRNGKey(0))
    problem = core.generate_problem(jax.random.PRNGKey(6), obs_every=5)
    core.run(core.FourDVarNetMethod(model, 3), problem)
    traces = []
    original = core.FourDVarNet.analyse
    monkeypatch.setattr(core.FourDVarNet, "analyse", lambda self, *a: traces.append(1) or original(self, *a))
    outputs = [
        core.run(
            core.FourDVarNetMethod(model, k), core.generate_problem(jax.random.PRNGKey(7), obs_every=e, obs_noise=s)
        )[0]
        for e, s, k in [(5, 0.5, 1), (2, 0.1, 4), (10, 1.0, 9)]
    ]
    assert traces == []
    assert not np.allclose(outputs[0], outputs[1])  # the new settings were used, not a cached result


def test_k_zero_returns_the_first_guess_and_k_changes_the_analysis():
    model = core.FourDVarNet(hidden_dim=4, key=jax.random.PRNGKey(0))
    problem = core.generate_problem(jax.random.PRNGKey(8))
    first_guess = core.interpolate_observations(problem.obs, problem.mask, problem.background_mean)
    window = lambda k: core.analyse(core.FourDVarNetMethod(model, k), problem).window
    np.testing.assert_allclose(window(0), first_guess, rtol=1e-5, atol=1e-4)
    assert not np.allclose(window(2), first_guess)
    with pytest.raises(ValueError, match="n_steps"):
        core.FourDVarNetMethod(model, -1)


@pytest.fixture(scope="module")
def small_model():
    config = core.TrainingConfig(steps=2, batch_size=4, hyperparameters={"hidden_dim": 4})
    model, _ = core.fit(config)
    return model, config


def test_save_load_round_trips_exactly(tmp_path, small_model):
    model, config = small_model
    path = core.save_model(tmp_path / "m.eqx", model, config, info={"final_loss": 1.0})
    loaded, header = core.load_model(path)
    for a, b in zip(
        jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(loaded, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert core.TrainingConfig.from_json(header["config"]) == config
    assert header["info"]["final_loss"] == 1.0
    problem = core.generate_problem(jax.random.PRNGKey(9))
    np.testing.assert_array_equal(
        core.analyse(core.FourDVarNetMethod(model), problem).window,
        core.analyse(core.FourDVarNetMethod(loaded), problem).window,
    )


def test_save_never_overwrites_silently(tmp_path, small_model):
    model, config = small_model
    path = core.save_model(tmp_path / "m.eqx", model, config)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        core.save_model(path, model, config)
    assert path.read_bytes() == before


def test_reference_model_round_trips(tmp_path):
    model = core.FourDVarNet1D(key=jax.random.PRNGKey(3))
    from core.nets.training import REFERENCE_CONFIG

    core.save_model(tmp_path / "r.eqx", model, REFERENCE_CONFIG)
    loaded, _ = core.load_model(tmp_path / "r.eqx", architecture="fourdvarnet_reference")
    np.testing.assert_array_equal(loaded.lstm.gates.weight, model.lstm.gates.weight)


def test_bad_model_files_raise_clear_errors(tmp_path, small_model):
    model, config = small_model
    with pytest.raises(core.ModelFileError, match="does not exist"):
        core.load_model(tmp_path / "missing.eqx")
    (tmp_path / "junk.eqx").write_bytes(b"\x00\x01 not a model")
    with pytest.raises(core.ModelFileError, match="not a FourDVarNet model file"):
        core.load_model(tmp_path / "junk.eqx")
    good = core.save_model(tmp_path / "good.eqx", model, config).read_bytes()
    (tmp_path / "cut.eqx").write_bytes(good[: len(good) - 100])
    with pytest.raises(core.ModelFileError, match="corrupt or truncated"):
        core.load_model(tmp_path / "cut.eqx")
    with pytest.raises(core.ModelFileError, match="not a fourdvarnet_reference model"):
        core.load_model(tmp_path / "good.eqx", architecture="fourdvarnet_reference")


@pytest.mark.ci  # ~17 s on 2 loaded cores: 64 windows of 4DVar and the shipped model
def test_the_shipped_attractor_model_is_within_1_2x_of_4dvar():
    from core.cli.main import shipped_model_path

    model, header = core.load_model(shipped_model_path("attractor"), architecture="fourdvarnet")
    assert core.TrainingConfig.from_json(header["config"]).obs_every == (5,)
    problems = core.generate_problems(jax.random.PRNGKey(10), 64)
    ours = core.evaluate(core.FourDVarNetMethod(model), problems, timing=None).statistics()
    fourdvar = core.evaluate(core.Strong4DVar(), problems, timing=None).statistics()
    # The target (measured on 256 problems in the README: 1.00x-1.04x); 1.15x on these 64.
    assert ours["rmse_assim"]["median"] <= 1.2 * fourdvar["rmse_assim"]["median"]


@pytest.mark.slow
@pytest.mark.ci  # ~15 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_the_shipped_mixed_density_model_is_within_1_5x_of_4dvar_from_every_2_to_20():
    from core.studies.sweep import SweepPlan, evaluate_sweep, load_shipped

    plan = SweepPlan(
        train_densities=(), test_densities=(2, 5, 10, 20), test_noises=(), test_components=(), n_problems=64
    )
    models, missing = load_shipped({"mixed_every": plan.configs()["mixed_every"]})
    assert not missing
    ratios = {
        r["test_obs_every"]: r["ratio_to_4dvar"] for r in evaluate_sweep(models, plan) if r["model"] == "mixed_every"
    }
    assert set(ratios) == {2, 5, 10, 20}
    assert max(ratios.values()) <= 1.5, ratios
