"""Strong 4DVar: recovery on a noise-free twin, gradient vs finite differences, the reference's
numbers, reported non-convergence, vmap consistency; the cheap references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import core
from core.methods.fourdvar import STATUS_CONVERGED, STATUS_MAX_STEPS


@pytest.fixture(scope="module")
def seed_problem():
    return core.generate_problem(jax.random.PRNGKey(42), preset="seed")


@pytest.mark.parametrize("solver", ["gauss-newton", "bfgs"])
def test_recovers_x0_on_a_noise_free_problem(solver):
    problem = core.generate_problem(jax.random.PRNGKey(11), obs_noise=0.0)
    analysis = core.strong_4dvar(problem, solver=solver)
    assert bool(analysis.converged)
    assert int(analysis.status) == STATUS_CONVERGED
    np.testing.assert_allclose(analysis.x0, problem.truth[0], atol=0.02)


def test_cost_gradient_matches_finite_differences():
    problem = core.generate_problem(jax.random.PRNGKey(12))
    x0 = problem.truth[0] + jnp.array([0.3, -0.2, 0.1])
    gradient = np.asarray(jax.grad(core.cost)(x0, problem))
    h = 1e-2
    finite = [
        (core.cost(x0 + h * e, problem) - core.cost(x0 - h * e, problem)) / (2 * h) for e in np.eye(3, dtype=np.float32)
    ]
    np.testing.assert_allclose(gradient, np.asarray(finite), rtol=2e-2, atol=0.5)
    assert np.abs(gradient).max() > 10  # a non-trivial gradient was compared


def test_cost_is_half_the_squared_residuals_and_lowest_near_the_truth():
    problem = core.generate_problem(jax.random.PRNGKey(13))
    x = problem.truth[0]
    np.testing.assert_allclose(
        core.cost(x, problem), 0.5 * np.sum(np.asarray(core.residuals(x, problem)) ** 2), rtol=1e-5
    )
    assert core.cost(x, problem) < core.cost(x + 1.0, problem)


def test_seed_key_42_matches_the_reference_notebook(seed_problem):
    trajectory, analysis = core.run(core.Strong4DVar(), seed_problem)
    s = core.scores(trajectory, seed_problem)
    # The reference notebook's printed table: strong 4DVar 0.051 / 0.076 / 0.075, OI 15.110 / 1.094 / 3.573.
    assert abs(float(s["rmse_assim"]) - 0.051) < 0.02
    assert abs(float(s["rmse_forecast"]) - 0.076) < 0.02
    oi = core.scores(core.run(core.OptimalInterpolation(), seed_problem)[0], seed_problem)
    np.testing.assert_allclose(
        [oi["rmse_assim"], oi["rmse_forecast"], oi["rmse_total"]], [15.110, 1.094, 3.573], atol=0.02
    )
    assert bool(analysis.converged)


@pytest.mark.parametrize("solver", ["bfgs", "gauss-newton"])
def test_a_capped_solve_is_reported_not_silent(seed_problem, solver):
    analysis = core.strong_4dvar(seed_problem, solver=solver, max_steps=2)
    assert not bool(analysis.converged)
    assert int(analysis.status) == STATUS_MAX_STEPS
    assert core.describe_status(analysis.status) == "hit the iteration cap"
    assert int(analysis.num_steps) == 2


@pytest.mark.ci  # ~10 s: both solvers compiled single and vmapped
def test_both_solvers_agree_and_vmap_matches_single_solves():
    problems = core.generate_problems(jax.random.PRNGKey(14), 6)
    batched = jax.vmap(core.strong_4dvar)(problems)
    for i in range(6):
        single = core.strong_4dvar(core.index_problem(problems, i))
        np.testing.assert_allclose(batched.x0[i], single.x0, atol=1e-3)
        bfgs = core.strong_4dvar(core.index_problem(problems, i), solver="bfgs")
        np.testing.assert_allclose(bfgs.cost, single.cost, rtol=1e-3)


def test_oi_is_the_per_component_kalman_update():
    problem = core.generate_problem(jax.random.PRNGKey(15), preset="seed", obs_noise=0.5)
    oi = np.asarray(core.optimal_interpolation(problem))
    gain = 25.0 / (25.0 + 0.25)
    np.testing.assert_allclose(oi[0], gain * np.asarray(problem.obs[0]), rtol=1e-6)
    np.testing.assert_allclose(oi[1], 0.0)  # between observations: the (zero) background


@pytest.mark.parametrize("kwargs, name", [({"solver": "adam"}, "solver"), ({"max_steps": 0}, "max_steps")])
def test_bad_solver_arguments(seed_problem, kwargs, name):
    with pytest.raises(ValueError, match=name):
        core.strong_4dvar(seed_problem, **kwargs)


@pytest.mark.ci  # ~11 s: one compile per cap
def test_an_iteration_cap_of_n_is_n_gauss_newton_updates():
    problem = core.generate_problem(jax.random.PRNGKey(42))
    x0 = problem.background_mean
    for cap in (1, 2, 3):
        # One Gauss-Newton update by hand: x <- x - (J^T J)^-1 J^T r.
        jac, res = jax.jacfwd(core.residuals)(x0, problem), core.residuals(x0, problem)
        x0 = x0 - np.linalg.solve(jac.T @ jac, jac.T @ res)
        analysis = core.strong_4dvar(problem, max_steps=cap)
        assert int(analysis.num_steps) == cap
        np.testing.assert_allclose(analysis.x0, x0, rtol=1e-3, atol=1e-3)
