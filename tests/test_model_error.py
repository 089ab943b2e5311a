"""Problems on either system, with the methods' model as data: the mismatch, the truth's noise, the
observed share, Lorenz-96's climatology, no recompiles, and refusals that name the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import count_compiles, rk4_by_hand

from core import Lorenz63Forward, generate_problem, generate_problems
from core.setups.window_systems import L96_CLIMATOLOGY_MEAN, L96_CLIMATOLOGY_STD
from core.systems.lorenz import lorenz63_vector_field
from core.systems.lorenz96 import Lorenz96Forward, lorenz96_vector_field


def test_lorenz63_methods_model_differs_from_the_truth_by_rho_only():
    problem = generate_problem(jax.random.PRNGKey(0), model_rho=26.0)
    x = np.asarray(problem.truth[:20], np.float64)  # states on the attractor, stepped in float64 by hand
    by_hand_model = rk4_by_hand(lambda s: lorenz63_vector_field(s, 10.0, 26.0, 8.0 / 3.0), x, 0.01)
    by_hand_truth = rk4_by_hand(lambda s: lorenz63_vector_field(s, 10.0, 28.0, 8.0 / 3.0), x, 0.01)
    np.testing.assert_allclose(problem.forward.step(problem.truth[:20]), by_hand_model, atol=2e-4)
    np.testing.assert_allclose(problem.truth_model.step(problem.truth[:20]), by_hand_truth, atol=2e-4)
    # The truth ran the true system (rho 28), not the methods' model: one step differs by ~dt x x (rho - 26).
    np.testing.assert_allclose(problem.truth[1:21], by_hand_truth, atol=2e-4)
    gap = np.abs(by_hand_model - by_hand_truth)[:, 1]
    np.testing.assert_allclose(gap, 0.01 * 2.0 * np.abs(x[:, 0]), rtol=0.05, atol=1e-3)


def test_lorenz96_methods_model_differs_from_the_truth_by_forcing_only():
    problem = generate_problem(
        jax.random.PRNGKey(1), system="lorenz96", dt=0.05, T_total=100, n_variables=12, forcing=8.0, model_forcing=7.0
    )
    assert problem.truth.shape == (101, 12) and problem.system == "lorenz96"
    x = np.asarray(problem.truth[:10], np.float64)
    by_hand_model = rk4_by_hand(lambda s: lorenz96_vector_field(s, 7.0), x, 0.05)
    by_hand_truth = rk4_by_hand(lambda s: lorenz96_vector_field(s, 8.0), x, 0.05)
    np.testing.assert_allclose(problem.forward.step(problem.truth[:10]), by_hand_model, atol=1e-4)
    np.testing.assert_allclose(problem.truth[1:11], by_hand_truth, atol=1e-4)
    # Over one step a forcing lower by 1 pulls every variable down by about dt.
    assert 0.03 < np.mean(by_hand_truth - by_hand_model) < 0.06


def test_new_mismatch_noise_or_share_does_not_recompile():
    key = jax.random.PRNGKey(2)
    generate_problem(key, model_rho=27.0, model_noise=0.1, observed_share=0.9)
    with count_compiles() as compiles:
        problems = [
            generate_problem(key, model_rho=rho, model_noise=q, observed_share=share)
            for rho, q, share in ((26.0, 0.0, 1.0), (31.0, 2.0, 0.5), (24.0, 0.5, 0.25))
        ]
    assert compiles.n == 0
    assert [float(p.forward.rho) for p in problems] == [26.0, 31.0, 24.0]  # the new values were applied
    assert float(problems[1].model_noise) == 2.0


def test_noisy_truth_increments_have_variance_q_dt():
    q, dt = 0.5, 0.01
    problems = generate_problems(jax.random.PRNGKey(3), 8, model_noise=q, T_total=1000)
    model = Lorenz63Forward(dt=dt)
    kicks = np.asarray(problems.truth[:, 1:] - model.step(problems.truth[:, :-1]), np.float64).ravel()
    n = kicks.size  # 24 000 draws: the sample variance's relative std is sqrt(2 / n) ~ 0.009
    assert abs(kicks.var() / (q * dt) - 1.0) < 5 * np.sqrt(2.0 / n)
    assert abs(kicks.mean()) < 5 * np.sqrt(q * dt / n)
    # Independent from step to step: the lag-1 correlation is within sampling of 0.
    per_run = np.asarray(problems.truth[:, 1:] - model.step(problems.truth[:, :-1]))
    lag1 = np.mean(per_run[:, 1:] * per_run[:, :-1]) / (q * dt)
    assert abs(lag1) < 5 / np.sqrt(n)


def test_observed_share_is_the_probability_of_each_variable_at_observation_times():
    problems = generate_problems(
        jax.random.PRNGKey(4), 16, system="lorenz96", dt=0.05, T_assim=200, T_total=200, obs_every=4, observed_share=0.5
    )
    mask = np.asarray(problems.mask)
    at_times = mask[:, ::4]  # 51 observation times x 40 variables x 16 problems
    assert abs(at_times.mean() - 0.5) < 5 * np.sqrt(0.25 / at_times.size)
    assert mask.sum() == at_times.sum()  # nothing observed between observation times
    assert not np.array_equal(at_times[0, 0], at_times[0, 1])  # drawn anew at each time


def test_every_kth_variable_and_a_subset():
    spaced = generate_problem(jax.random.PRNGKey(5), system="lorenz96", dt=0.05, T_total=60, obs_spacing=4)
    np.testing.assert_array_equal(np.nonzero(np.asarray(spaced.mask[0]))[0], np.arange(0, 40, 4))
    subset = generate_problem(jax.random.PRNGKey(5), system="lorenz96", dt=0.05, T_total=60, observed=(3, 17))
    np.testing.assert_array_equal(np.nonzero(np.asarray(subset.mask[0]))[0], [3, 17])


def test_lorenz96_attractor_preset_uses_its_climatology():
    problem = generate_problem(jax.random.PRNGKey(6), system="lorenz96", dt=0.05, T_total=200)
    np.testing.assert_allclose(problem.background_mean, np.full(40, L96_CLIMATOLOGY_MEAN))
    np.testing.assert_allclose(problem.background_std, np.full(40, L96_CLIMATOLOGY_STD))
    np.testing.assert_allclose(Lorenz96Forward(dt=0.05).step(problem.truth[:-1]), problem.truth[1:], atol=1e-4)


def test_lorenz96_climatology_constants_match_a_long_run():
    forward = Lorenz96Forward(dt=0.05)
    starts = 8.0 + jax.random.normal(jax.random.PRNGKey(7), (32, 40))
    runs = jax.vmap(lambda s: forward.rollout(forward.advance(s, 1000), 4000))(starts)
    np.testing.assert_allclose(float(runs.mean()), L96_CLIMATOLOGY_MEAN, atol=0.05)
    np.testing.assert_allclose(float(runs.std()), L96_CLIMATOLOGY_STD, rtol=0.02)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"system": "lorenz96", "model_rho": 26.0}, ["model_rho", "lorenz63"]),
        ({"model_forcing": 7.0}, ["model_forcing", "lorenz96"]),
        ({"forcing": 7.0}, ["forcing", "lorenz96"]),
        ({"system": "lorenz96", "preset": "seed"}, ["preset", "'seed'", "lorenz96", "'attractor'"]),
        ({"system": "lorenz84"}, ["system", "lorenz63"]),
        ({"system": "lorenz96", "n_variables": 3}, ["n_variables", "between 4 and 1000"]),
        ({"n_variables": 40}, ["n_variables", "3"]),
        ({"model_rho": 0.0}, ["model_rho", "between 0.5 and 100"]),
        ({"model_noise": -1.0}, ["model_noise", "between 0.0 and 100"]),
        ({"observed_share": 0.0}, ["observed_share", "(0, 1]"]),
        ({"observed_share": 1.5}, ["observed_share", "between 0.0 and 1.0"]),
        ({"system": "lorenz96", "obs_spacing": 41}, ["obs_spacing", "between 1 and 40"]),
    ],
)
def test_bad_system_or_model_error_arguments_name_the_parameter(kwargs, words):
    with pytest.raises(ValueError) as error:
        generate_problem(jax.random.PRNGKey(0), **kwargs)
    for word in words:
        assert word in str(error.value)
    with pytest.raises(ValueError, match=words[0]):
        generate_problems(jax.random.PRNGKey(0), 2, **kwargs)


def test_per_problem_mismatch_in_a_batch():
    problems = generate_problems(jax.random.PRNGKey(8), 3, model_rho=jnp.array([24.0, 28.0, 32.0]))
    np.testing.assert_array_equal(problems.forward.rho, [24.0, 28.0, 32.0])
    np.testing.assert_array_equal(problems.truth_model.rho, [28.0, 28.0, 28.0])


def test_a_mixed_mismatch_training_draws_the_methods_rho_per_problem():
    """A (low, high) range draws rho uniformly per training problem; a single value or none is left alone,
    so trainings without a range draw their batches exactly as before."""
    from core.nets.training import TrainingConfig, draw_mismatch

    config = TrainingConfig(model_rho=(24.0, 32.0))
    drawn = np.asarray(draw_mismatch(config.problem_settings(), jax.random.PRNGKey(3), 4096)["model_rho"])
    assert 24.0 <= drawn.min() and drawn.max() <= 32.0
    # Uniform on [24, 32]: mean 28, std 8 / sqrt(12) = 2.31 (sampling error of the mean ~0.04).
    assert abs(drawn.mean() - 28.0) < 0.2 and abs(drawn.std() - 8 / np.sqrt(12)) < 0.1
    assert draw_mismatch({"model_rho": 26.0}, jax.random.PRNGKey(3), 8) == {"model_rho": 26.0}
    assert TrainingConfig.from_json(config.to_json()) == config and "rho 24-32" in config.label()
    with pytest.raises(ValueError, match=r"model_rho as a range must be a pair \(low, high\) with low < high"):
        TrainingConfig(model_rho=(32.0, 24.0))
