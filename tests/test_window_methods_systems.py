"""Every window method on Lorenz-96 and under a model mismatch: 4DVar recovers a Lorenz-96 truth, the
chi-square verdict counts n background numbers, forecasts run the methods' model, and a wrong model
shows in strong 4DVar's fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import rk4_by_hand

import core
from core.methods.fourdvar import observation_statistic, strong_4dvar
from core.nets.fourdvarnet import FourDVarNet
from core.systems.lorenz96 import lorenz96_vector_field

L96 = dict(system="lorenz96", dt=0.05, T_assim=10, T_total=30, obs_every=1, obs_noise=0.5)


@pytest.fixture(scope="module")
def l96_problems():
    return core.generate_problems(jax.random.PRNGKey(0), 8, **L96)


def test_strong_4dvar_recovers_a_lorenz96_truth_within_the_noise(l96_problems):
    solves = jax.vmap(lambda p: strong_4dvar(p))(l96_problems)
    error = np.sqrt(np.mean((np.asarray(solves.x0) - np.asarray(l96_problems.truth[:, 0])) ** 2, axis=-1))
    # Each x0 component is seen by 11 observations of std 0.5 through a short (half a Lyapunov time)
    # window: its error is a fraction of the noise, and far below the background's 3.64.
    assert np.all(np.asarray(solves.converged))
    assert np.all(error < 0.5), error


@pytest.mark.ci  # ~17 s on 2 cores: 64 Lorenz-96 problems
def test_the_verdict_leaves_out_the_n_background_numbers_of_lorenz96(l96_problems):
    # At the true x0 the observation misfits are the noise: 2 J_o ~ chi-square(m), m the observed values,
    # whatever the background. Counting 3 background numbers (Lorenz-63's) would add 37 of Lorenz-96's.
    problems = core.generate_problems(jax.random.PRNGKey(1), 64, **L96)
    far_off = eqx_replace(problems, background_mean=problems.background_mean + 20.0)
    statistic, dof = jax.vmap(observation_statistic)(far_off.truth[:, 0], far_off)
    m = float(dof[0])
    assert m == 11 * 40
    assert abs(np.mean(statistic) / m - 1) < 5 * np.sqrt(2 / m / 64)
    assert not np.any(np.asarray(jax.vmap(core.wrong_minimum)(far_off.truth[:, 0], far_off)))


def eqx_replace(problems, **fields):
    import dataclasses

    return dataclasses.replace(problems, **fields)


@pytest.mark.parametrize("name", ["free_run", "oi", "strong_4dvar", "strong_4dvar_qs", "weak_4dvar"])
def test_every_method_forecasts_with_the_methods_model_on_lorenz96(name):
    problem = core.generate_problem(jax.random.PRNGKey(2), model_forcing=7.0, n_variables=12, **L96)
    method = core.build_methods(core.MethodContext())[name]
    trajectory, analysis = core.run(method, problem)
    assert np.all(np.isfinite(np.asarray(analysis.window)))
    # Past the window the run is the methods' model (F = 7), not the truth's (F = 8): RK4 by hand.
    forecast = np.asarray(trajectory[10:], np.float64)
    methods = rk4_by_hand(lambda x: lorenz96_vector_field(x, 7.0), forecast[:-1], 0.05)
    truths = rk4_by_hand(lambda x: lorenz96_vector_field(x, 8.0), forecast[:-1], 0.05)
    np.testing.assert_allclose(forecast[1:], methods, atol=1e-3)
    assert np.max(np.abs(truths - forecast[1:])) > 0.02


def test_fourdvarnet_takes_its_size_from_the_system():
    problem = core.generate_problem(jax.random.PRNGKey(3), **L96)
    model = FourDVarNet(
        hidden_dim=4, kernel_size=3, n_solver_steps=2, system="lorenz96", n_variables=40, key=jax.random.PRNGKey(0)
    )
    zero_steps = model.analyse(problem, jnp.asarray(0))
    # With no learned step the window is the interpolated observations (every step observed here: the obs).
    np.testing.assert_allclose(zero_steps, problem.obs, atol=1e-4)
    assert np.all(np.isfinite(np.asarray(model.analyse(problem))))


def test_posterior_std_on_lorenz96_shrinks_where_observed():
    problem = core.generate_problem(jax.random.PRNGKey(4), obs_spacing=2, **L96)
    solve = strong_4dvar(problem)
    std = np.asarray(core.posterior_std(solve.x0, problem))
    assert std.shape == (31, 40)
    # Observed variables (even ones) are known better at the window's start than unobserved ones.
    assert np.mean(std[0, ::2]) < np.mean(std[0, 1::2])
    assert np.all(std[0, ::2] < 0.5)


def test_a_wrong_model_worsens_strong_4dvar_on_the_same_observations():
    # Same key: the same truth and observations; only the methods' rho differs (28, then 24).
    settings = dict(T_assim=50, obs_every=5, obs_noise=0.5)
    right = core.generate_problems(jax.random.PRNGKey(5), 16, **settings)
    wrong = core.generate_problems(jax.random.PRNGKey(5), 16, model_rho=24.0, **settings)
    np.testing.assert_array_equal(right.obs, wrong.obs)
    fits = [jax.vmap(lambda p: strong_4dvar(p))(problems) for problems in (right, wrong)]
    statistics = [jax.vmap(observation_statistic)(fit.x0, p)[0] for fit, p in zip(fits, (right, wrong), strict=True)]
    # The true model fits the observations to their noise (2 J_o ~ m = 33); the wrong one cannot.
    assert np.median(statistics[1]) > 3 * np.median(statistics[0])
    assert np.mean(np.asarray(statistics[1]) > np.asarray(statistics[0])) >= 0.9


def test_predictability_uses_each_systems_attractor_size():
    problem = core.generate_problem(jax.random.PRNGKey(6), **L96)
    trace = np.zeros(31)
    trace[11:] = 0.5 * core.attractor_size("lorenz96") * 1.01
    assert core.predictability_time(trace, problem) == pytest.approx(11 * 0.05)
    assert core.attractor_size("lorenz96") == pytest.approx(3.64)
