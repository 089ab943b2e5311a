"""Weak 4DVar's path on the landscape against independent facts: it starts at the background, takes weak
4DVar's own steps (`core.weak_4dvar` with a cap), ends where `core.weak_4dvar` ends, becomes strong
4DVar as q -> 0 (float64), and a new window length or q reuses its one compile."""

from __future__ import annotations

import dataclasses
import html

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import count_compiles, refined_strong_4dvar

import core
from core.methods.weak_variational import DEFAULT_Q
from core.studies.landscape import pad_problem, weak_4dvar_walk


def _problem(window, key=3):
    return core.generate_problem(jax.random.PRNGKey(key), T_assim=window, obs_every=8, obs_noise=1.4142)


@pytest.mark.ci  # ~15 s on 2 loaded cores: the walk and weak 4DVar compiled
def test_the_path_starts_at_the_background_and_ends_where_weak_4dvar_does():
    problem = _problem(50)
    walk = weak_4dvar_walk(problem, DEFAULT_Q)
    path = np.asarray(walk.path)
    # Weak 4DVar starts from the background's free run, whose first state is the background's mean.
    np.testing.assert_allclose(path[0], problem.background_mean)
    solve = core.weak_4dvar(problem, DEFAULT_Q)
    assert bool(walk.converged) and int(solve.num_steps) >= 3  # a path of several steps, not a point
    np.testing.assert_allclose(path[-1], solve.window[0], atol=1e-4)
    # Its verdict is weak 4DVar's own (its chi-square test on J_o + J_q): the same status.
    assert bool(walk.wrong_minimum) == (int(solve.status) == core.STATUS_WRONG_MINIMUM)
    # Past its last step the path repeats its end (the view draws only up to there).
    steps = int(walk.num_steps)
    assert abs(steps - int(solve.num_steps)) <= 1  # float32: a stage's stop can fall a step apart
    np.testing.assert_array_equal(path[steps:], np.broadcast_to(path[-1], path[steps:].shape))
    assert np.abs(path[steps] - path[steps - 1]).max() > 0


@pytest.mark.ci
def test_each_point_is_weak_4dvar_capped_at_that_many_steps_in_float64():
    # Float64: from a background on the z axis the first Gauss-Newton step's x and y signs are
    # round-off's in float32 (weak 4DVar's own solve goes either way), so compare where they are exact.
    with jax.enable_x64(True):
        problem = _problem(50)
        path = np.asarray(weak_4dvar_walk(problem, DEFAULT_Q).path)
        for k in (1, 2, 3):
            capped = core.weak_4dvar(problem, DEFAULT_Q, max_steps=k)
            np.testing.assert_allclose(path[k], capped.window[0], rtol=1e-9, atol=1e-9)
        assert np.abs(path[1] - path[0]).max() > 1.0  # the steps compared moved the state


@pytest.mark.ci
def test_a_long_window_from_a_background_on_the_z_axis_stays_finite_and_ends_where_weak_4dvar_does():
    # The padding's free run from (0, 0, z) grows like the origin's unstable direction: were it left
    # coupled to the window, float32's elimination would overflow at the first step.
    problem = _problem(200)
    problem = dataclasses.replace(problem, background_mean=jnp.array([0.0, 0.0, 23.55]))
    walk = weak_4dvar_walk(problem, DEFAULT_Q)
    solve = core.weak_4dvar(problem, DEFAULT_Q)
    assert np.all(np.isfinite(np.asarray(walk.path))) and not bool(walk.broke_down)
    assert bool(walk.converged) == (int(solve.status) in (0, 3))  # converged (3: the chi-square verdict aside)
    np.testing.assert_allclose(np.asarray(walk.path[-1]), solve.window[0], atol=1e-3)


def test_a_new_window_length_or_q_does_not_recompile():
    first, second = _problem(50, key=5), _problem(100, key=5)
    weak_4dvar_walk(first, DEFAULT_Q).path.block_until_ready()
    pad_problem(second)  # an eager jnp.pad compiles once per length, for every path alike
    with count_compiles() as compiles:
        weak_4dvar_walk(second, 0.3).path.block_until_ready()
    assert compiles.n == 0


@pytest.mark.parametrize("bad_q", [0.0, -1.0, 1e9, float("nan")])
def test_a_bad_q_is_refused_by_name_before_any_work(bad_q):
    with pytest.raises(ValueError, match="q "):
        weak_4dvar_walk(_problem(50), bad_q)


@pytest.mark.ci
def test_as_q_goes_to_zero_the_path_ends_at_strong_4dvars_x0():
    """The tolerance of tests/test_weak4dvar.py's q -> 0 test: a thousandth of the smallest strong
    posterior std, with the model's error variance over the window 1e-8 of R (float64)."""
    with jax.enable_x64(True):
        problem = core.generate_problem(jax.random.PRNGKey(4), T_assim=50, obs_every=5, obs_noise=0.5)
        x0 = refined_strong_4dvar(problem, core.strong_4dvar(problem).x0)
        strong_std = np.asarray(core.posterior_std(jnp.asarray(x0), problem))[:51]
        q = 1e-8 * 0.5**2 / (50 * problem.dt)
        walk = weak_4dvar_walk(problem, q)
        assert bool(walk.converged)
        np.testing.assert_allclose(np.asarray(walk.path[-1]), x0, atol=1e-3 * strong_std.min())
        loose = weak_4dvar_walk(problem, 1e-2 * 0.5**2 / (50 * problem.dt))
        assert np.abs(np.asarray(loose.path[-1]) - x0).max() > 10 * 1e-3 * strong_std.min()


@pytest.mark.ci
def test_the_tab_draws_weak_4dvars_path_in_its_colour_with_its_outcome_and_the_caption():
    from dashboard.data import compute, landscape_data
    from dashboard.data.compute import Settings
    from dashboard.views.landscape_view import summary_html

    settings = Settings(window=100)
    paths = landscape_data.compute_paths(settings)
    walk = weak_4dvar_walk(compute.make_problem(settings), DEFAULT_Q)
    steps = int(walk.num_steps)
    # Drawn up to where it stopped: the background, then one point per Gauss-Newton step.
    np.testing.assert_allclose(paths.paths["weak_4dvar"], np.asarray(walk.path)[: steps + 1], rtol=1e-6)
    assert landscape_data.PATH_COLORS["weak_4dvar"] == core.registered_methods()["weak_4dvar"].colour
    text = summary_html(landscape_data.compute_grid(settings, "x-z", 3.0), paths)
    colour = core.registered_methods()["weak_4dvar"].colour
    assert f'background:{colour}"></span>weak 4DVar (first state): {steps} steps, ends at J = ' in text
    assert "The map is strong 4DVar" in text and "need not" in text


@pytest.mark.ci
def test_under_model_error_weak_4dvar_ends_near_the_truth_where_strong_4dvar_is_held_off():
    """The methods' rho = 26 against the truth's 28, a 300-step window: strong 4DVar's quasi-static
    solve ends in the wrong model's valley, weak 4DVar (q = 1, the Explore tab's) near the true x0."""
    from dashboard.data import landscape_data
    from dashboard.data.compute import Settings

    paths = landscape_data.compute_paths(Settings(window=300, model_rho=26.0))
    miss = {name: np.linalg.norm(path[-1] - paths.truth) for name, path in paths.paths.items()}
    assert miss["weak_4dvar"] < 1.0 < 5.0 < miss["quasi-static"]
    assert miss["weak_4dvar"] < min(miss["gauss-newton"], miss["bfgs"])
    # The legend's verdict on weak 4DVar is its own solve's, not the strong cost's ratio.
    solve = core.weak_4dvar(landscape_data._checked_problem(Settings(window=300, model_rho=26.0)), DEFAULT_Q)
    assert paths.wrong_minimum["weak_4dvar"] == (int(solve.status) == core.STATUS_WRONG_MINIMUM)
    # The quasi-static end fits the data better than the truth (J below the truth's) yet is far from it:
    # under model error the legend calls no strong path's end good, and says why.
    from dashboard.views.landscape_view import MODEL_ERROR_CAPTION, summary_html

    assert paths.model_error and paths.final_cost["quasi-static"] < paths.truth_cost
    text = summary_html(landscape_data.compute_grid(Settings(window=300, model_rho=26.0), "x-z", 3.0), paths)
    quasi_static = text.split("quasi-static:")[1].split('class="legend-item"')[0]
    assert 'class="good"' not in quasi_static and html.escape(MODEL_ERROR_CAPTION) in text
