"""The cost landscape: the grid against `core.cost` point by point, padding leaves J unchanged,
and the drawn paths end where the solvers do."""

import jax
import numpy as np
import pytest

import core
from core.nets.training import TrainingConfig, build_model
from core.studies.landscape import MAX_WINDOW, PATH_LENGTH, cost_landscape, fourdvarnet_path, pad_problem, solver_path


def _problem(window, key=3):
    return core.generate_problem(jax.random.PRNGKey(key), T_assim=window, obs_every=8, obs_noise=1.4142)


@pytest.mark.parametrize("window, plane", [(50, "x-y"), (200, "x-z"), (MAX_WINDOW, "y-z")])
def test_the_grid_agrees_with_the_cost_point_by_point(window, plane):
    problem = _problem(window)
    landscape = cost_landscape(problem, plane, extent=2.0, n=64)
    assert landscape.cost.shape == (64, 64)
    a, b = landscape.axes
    # The grid spans +-2 background stds around the true x0 in the plane's two components.
    np.testing.assert_allclose(
        np.asarray(landscape.first)[[0, -1]],
        problem.truth[0, a] + np.array([-2, 2]) * problem.background_std[a],
        rtol=1e-5,
    )
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 64, size=(12, 2)):
        x0 = problem.truth[0].at[a].set(landscape.first[j]).at[b].set(landscape.second[i])
        np.testing.assert_allclose(landscape.cost[i, j], core.cost(x0, problem), rtol=2e-5)


def test_padding_leaves_the_cost_unchanged():
    problem = _problem(50)
    padded = pad_problem(problem)
    assert padded.T_assim == MAX_WINDOW and padded.obs.shape == (MAX_WINDOW + 1, 3)
    for x0 in (problem.truth[0], problem.background_mean, problem.truth[0] + 3.0):
        np.testing.assert_allclose(core.cost(x0, padded), core.cost(x0, problem), rtol=1e-6)
    with pytest.raises(ValueError, match="window"):
        pad_problem(_problem(50), window=20)


def test_on_a_short_window_the_bowl_is_lowest_near_the_truth():
    # Nearly exact observations (std 0.05): the minimum sits at the truth, the grid's centre.
    problem = core.generate_problem(jax.random.PRNGKey(3), obs_noise=0.05)
    landscape = cost_landscape(problem, "x-y", extent=0.5, n=65)
    i, j = np.unravel_index(np.argmin(landscape.cost), landscape.cost.shape)
    # Within a cell or two (0.5 std / 32 ~ 0.13) of the centre, and the bowl rises away from it.
    assert abs(i - 32) <= 2 and abs(j - 32) <= 2
    cost = np.asarray(landscape.cost)
    assert cost[32, 0] > cost[32, 16] > cost[32, 32] and cost[0, 32] > cost[16, 32] > cost[32, 32]


@pytest.mark.parametrize("window", [50, 200])
@pytest.mark.parametrize("solver", ["gauss-newton", "bfgs", "quasi-static"])
def test_each_path_starts_at_the_background_and_ends_where_the_solver_does(window, solver):
    problem = _problem(window)
    path = np.asarray(solver_path(problem, solver))
    np.testing.assert_allclose(path[0], problem.background_mean)
    analysis = core.strong_4dvar(problem, solver=solver)
    assert np.all(np.isfinite(path))
    if int(analysis.status) == core.methods.fourdvar.STATUS_FAILED:
        return  # a broken-down Gauss-Newton solve: its path stops at its last finite iterate
    assert int(analysis.num_steps) <= PATH_LENGTH
    # The same iterations, jitted apart: the same minimum (by its cost; on a long window a
    # round-off apart can send BFGS to a neighbouring point of the same wrong valley).
    np.testing.assert_allclose(core.cost(path[-1], problem), analysis.cost, rtol=1e-3)
    if window == 50 or solver == "quasi-static":
        np.testing.assert_allclose(path[-1], analysis.x0, atol=1e-2)


def test_fourdvarnet_path_follows_its_first_state():
    model = build_model(TrainingConfig(), key=jax.random.PRNGKey(0))
    problem = _problem(100)
    path = np.asarray(fourdvarnet_path(model, problem, n_steps=3))
    assert path.shape == (4, 3)
    for k in range(4):
        np.testing.assert_allclose(path[k], model.analyse(problem, k)[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="n_steps"):
        fourdvarnet_path(model, problem, n_steps=50)


@pytest.mark.parametrize("kwargs, name", [({"plane": "x-w"}, "plane"), ({"extent": 0.0}, "extent"), ({"n": 1}, "n")])
def test_bad_landscape_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        cost_landscape(_problem(50), **kwargs)


@pytest.mark.parametrize("solver", ["gauss-newton", "quasi-static"])
def test_a_padded_problem_solves_to_the_same_analysis(solver):
    # What lets a window slider reuse one compile: the padded problem is the same problem.
    problem = _problem(100)
    padded, plain = core.strong_4dvar(pad_problem(problem), solver=solver), core.strong_4dvar(problem, solver=solver)
    np.testing.assert_allclose(padded.x0, plain.x0, atol=1e-3)
    assert int(padded.status) == int(plain.status)
