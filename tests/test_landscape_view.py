"""The Landscape tab and the window setting, without a browser: the view draws what `core` computes,
the window reaches the problem (and the shaded window of the Explore plots), a crafted window is
refused."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import core
from dashboard.data import compute, landscape_data
from dashboard.data.compute import Settings
from dashboard.state.explore import ExperimentState
from dashboard.views.controls import Controls
from dashboard.views.landscape_view import LandscapeView


@pytest.fixture
def state():
    """A state that does not solve the Explore experiment (the landscape reads only the settings)."""
    return ExperimentState(solve=lambda settings: None)


def test_the_view_draws_the_grid_core_computes_and_it_agrees_with_the_cost_point_by_point(state):
    state.param.update(window=100, seed=7, obs_every=8)
    view = LandscapeView(state=state)
    view.slice.param.update(plane="x-y", extent=2.0)
    view.show(True)
    problem = compute.make_problem(state.settings())
    expected = core.cost_landscape(problem, "x-y", 2.0, landscape_data.GRID_POINTS)
    drawn = view.figure.image.data["image"][0]
    np.testing.assert_allclose(drawn, np.maximum(np.asarray(expected.cost), landscape_data.COST_FLOOR), rtol=1e-6)
    # An independent fact: the corner and a middle point are J evaluated at those initial states.
    first, second = np.asarray(expected.first), np.asarray(expected.second)
    for i, j in ((0, 0), (40, 17)):
        x0 = np.asarray(problem.truth[0]).copy()
        x0[0], x0[1] = first[j], second[i]
        np.testing.assert_allclose(drawn[i, j], float(core.cost(jnp.asarray(x0), problem)), rtol=2e-3)
    # The drawn paths are the solvers' iterates projected onto x-y, up to where each stopped.
    lines = view.figure.lines.data
    quasi = core.solver_path(problem, "quasi-static")
    k = lines["name"].index("quasi-static")
    np.testing.assert_allclose(lines["xs"][k], np.asarray(quasi)[: len(lines["xs"][k]), 0], rtol=1e-6)
    assert "window 100 steps" in view.figure.figure.title.text


def test_the_window_setting_reaches_the_problem_the_landscape_and_the_shaded_window(state):
    state.window = 200
    settings = state.settings()
    assert settings.window == 200
    problem = compute.make_problem(settings)
    assert problem.T_assim == 200 and problem.T_total == 1000  # the forecast follows the longer window
    paths = landscape_data.paths(settings)
    assert paths.window == 200
    # J at the truth is the 200-step cost, not the 50-step one.
    np.testing.assert_allclose(paths.truth_cost, float(core.cost(problem.truth[0], problem)), rtol=1e-5)
    short = compute.make_problem(Settings(window=50, seed=settings.seed))
    assert abs(paths.truth_cost - float(core.cost(short.truth[0], short))) > 1.0
    # The Explore plots shade 0..2 time units for this window.
    from dashboard.figures import plots

    experiment = compute.run_experiment(Settings(window=200, methods=("free_run",)))
    assert experiment.window_end == pytest.approx(2.0)
    figures = plots.ExploreFigures()
    figures.update(experiment, ("truth", "free_run"))
    assert [box.right for box in figures.window_boxes] == [pytest.approx(2.0)] * 4


def test_long_window_paths_show_the_wrong_valley_and_the_mend(state):
    """At 300 steps Gauss-Newton and BFGS end far above the truth's cost; quasi-static ends near it."""
    state.window = 300
    paths = landscape_data.paths(state.settings())
    assert paths.final_cost["quasi-static"] <= 1.5 * paths.truth_cost
    assert paths.final_cost["gauss-newton"] > 10 * paths.truth_cost
    assert paths.final_cost["bfgs"] > 10 * paths.truth_cost


def test_a_crafted_window_is_refused_everywhere(state):
    with pytest.raises(ValueError, match="window"):
        state.window = 999
    assert state.window == 50  # unchanged
    with pytest.raises(ValueError, match="window must be one of"):
        compute.run_experiment(Settings(window=999))
    with pytest.raises(ValueError, match="window must be one of"):
        landscape_data.grid(Settings(window=37), "x-y", 3.0)
    with pytest.raises(ValueError, match="extent"):
        landscape_data.grid(Settings(), "x-y", 99.0)
    with pytest.raises(ValueError, match="plane"):
        landscape_data.grid(Settings(), "x-w", 3.0)
    # From the browser: the window slider sends an index; one past its options is refused and said.
    controls = Controls(state=state)
    from dashboard.server.browser_patch import browser_sends

    doc = browser_sends(controls.window._slider, value_throttled=42)
    assert state.window == 50
    assert controls.refused.visible and "not one of the lengths" in controls.refused.object
    # A valid move clears it and reaches the state.
    browser_sends(controls.window._slider, doc, value=4, value_throttled=4)
    assert state.window == compute.WINDOWS[4] and not controls.refused.visible


def test_a_bad_combination_is_said_in_the_tab_not_raised(state):
    state.param.update(obs_every=25)
    state.window = 10  # observing every 25 steps of a 10-step window: no such problem
    view = LandscapeView(state=state)
    assert view.redraw() is None
    assert view.message.visible and "obs_every" in view.message.object


def test_a_solve_that_fails_at_its_first_step_is_said_so_not_0_steps_ending_somewhere():
    """Issue 20: at 300 steps (default settings) Gauss-Newton breaks down on its first step from the
    background; the legend said "Gauss-Newton: 0 steps, ends at J = 7.97e+04"."""
    from dashboard.views.landscape_view import summary_html

    settings = Settings(window=300)
    problem = compute.make_problem(settings)
    # The independent fact: the solve itself (not the drawn path) failed without accepting a step.
    analysis = core.strong_4dvar(problem, solver="gauss-newton", max_steps=20)
    assert int(analysis.status) == core.methods.fourdvar.STATUS_FAILED and int(analysis.num_steps) == 0
    paths = landscape_data.compute_paths(settings)
    assert paths.failed_at_first_step("gauss-newton")
    text = summary_html(landscape_data.compute_grid(settings, "x-z", 3.0), paths)
    assert 'Gauss-Newton: <span class="bad">failed at the first step</span>' in text
    assert "Gauss-Newton: 0 steps" not in text
    # The other solvers walked: their steps and ends are still said.
    assert not paths.failed_at_first_step("quasi-static")
    assert f"quasi-static: {len(paths.paths['quasi-static']) - 1} steps, ends at J = " in text


def test_a_solve_that_converged_says_its_steps_as_the_solve_counts_them():
    settings = Settings(window=50)
    analysis = core.strong_4dvar(compute.make_problem(settings), solver="gauss-newton", max_steps=20)
    assert int(analysis.status) == core.methods.fourdvar.STATUS_CONVERGED
    paths = landscape_data.compute_paths(settings)
    assert not paths.failed_at_first_step("gauss-newton")
    # The drawn path counts every move; optimistix's count can be one short (its last step is
    # taken before the check that stops it).
    steps = int(paths.outcome("gauss-newton").removesuffix(" steps"))
    assert int(analysis.num_steps) <= steps <= int(analysis.num_steps) + 1
