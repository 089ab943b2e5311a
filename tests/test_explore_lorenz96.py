"""Explore on Lorenz-96 (issue 17, item 5): the system's choice lives in the state and the URL, refuses
crafted values, leaves Lorenz-63's numbers bit-identical, and the page's numbers are core's own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import count_compiles

pytestmark = pytest.mark.usefixtures("user_cache")


@pytest.fixture
def counted():
    """A state whose solves are recorded (the 'experiment' is the settings it was solved for)."""
    from dashboard.state.explore import ExperimentState

    calls = []

    def solve(settings):
        calls.append(("lorenz63", settings))
        return settings

    def solve96(settings):
        calls.append(("lorenz96", settings))
        return settings

    state = ExperimentState(solve=solve, solve96=solve96)
    state.calls = calls
    return state


def test_the_system_round_trips_through_the_url(counted):
    from panel.io.location import Location

    from dashboard.app import URL_PARAMETERS
    from dashboard.state.explore import ExperimentState

    location = Location()
    location.sync(counted, {name: name for name in URL_PARAMETERS})
    counted.update(system="lorenz96", noise_variance=1.5, window_96=100, model_forcing=7.25, seed=11, variable=9)
    assert "&system=lorenz96&model_forcing=7.25" in location.search and "&variable=9" in location.search

    opened = ExperimentState(solve=lambda s: s, solve96=lambda s: s)
    Location(search=location.search).sync(opened, {name: name for name in URL_PARAMETERS})
    assert opened.system == "lorenz96" and opened.variable == 9
    assert opened.settings96() == counted.settings96()
    assert opened.settings96().noise_variance == 1.5 and opened.settings96().window == 100


def test_lorenz96_settings_leave_lorenz63_unsolved_and_drawing_choices_solve_nothing(counted):
    solved = len(counted.calls)
    counted.update(noise_variance=1.0, observed_share=0.3)  # Lorenz-96's, while Lorenz-63 is shown
    assert len(counted.calls) == solved
    counted.system = "lorenz96"
    assert counted.calls[-1] == ("lorenz96", counted.settings96()) and counted.settings96().observed_share == 0.3
    solved = len(counted.calls)
    counted.update(map_method="fourdvarnet", variable=17)  # what is drawn, not what is solved
    counted.obs_every = 9  # Lorenz-63's, while Lorenz-96 is shown
    assert len(counted.calls) == solved
    counted.seed = 5  # shared by both systems
    assert counted.calls[-1] == ("lorenz96", counted.settings96()) and counted.settings96().seed == 5


@pytest.mark.parametrize(
    "values, words",
    [
        ({"system": "lorenz99"}, "system must be one of 'lorenz63', 'lorenz96'"),
        ({"seed": 3, "noise_variance": 99.0}, "noise_variance must be between 0.1 and 5.0"),
        ({"seed": 3, "noise_variance": math.nan}, "noise_variance must be a finite number"),
        ({"seed": 3, "observed_share": 0.0}, "observed_share must be between 0.05 and 1.0"),
        ({"seed": 3, "model_forcing": 40.0}, "model_forcing must be between 4.0 and 12.0"),
        ({"seed": 3, "obs_every_96": 2.5}, "obs_every_96 must be a whole number"),
        ({"seed": 3, "window_96": 75}, "window_96 must be one of 50, 100, 200"),
        ({"seed": 3, "variable": 40}, "variable must be between 0 and 39"),
        ({"seed": 3, "map_method": "letkf"}, "map_method must be one of"),
    ],
)
def test_crafted_lorenz96_values_are_refused_naming_the_control_and_its_range(counted, values, words):
    from dashboard.state.explore import ExperimentState

    counted.system = "lorenz96"
    before = {name: getattr(counted, name) for name in ExperimentState.setting_names()}
    solved, experiment = len(counted.calls), counted.experiment
    with pytest.raises(ValueError, match=words):
        counted.update(**values)
    assert {name: getattr(counted, name) for name in ExperimentState.setting_names()} == before
    assert len(counted.calls) == solved and counted.experiment is experiment


def test_the_fourdvarnet_is_shown_only_on_the_set_up_it_was_trained_on():
    from dashboard.data.lorenz96_compute import Settings96, fourdvarnet_mismatch

    assert fourdvarnet_mismatch(Settings96()) == ""
    assert fourdvarnet_mismatch(Settings96(seed=9, model_forcing=6.5)) == ""  # a new window of the same data
    said = fourdvarnet_mismatch(Settings96(noise_variance=1.0, window=100))
    assert "noise variance 1 (trained: 2)" in said and "window 100 (trained: 200)" in said


@pytest.mark.ci  # (~8 s: Lorenz-63's solvers compile, then four solves)
def test_switching_to_lorenz96_and_back_gives_lorenz63_numbers_bit_identically():
    from dashboard.data.compute import Settings, run_experiment
    from dashboard.state.explore import ExperimentState

    state = ExperimentState(solve=run_experiment, solve96=lambda s: s)
    before = state.experiment
    state.update(system="lorenz96", noise_variance=1.0)
    assert state.experiment == state.settings96()
    state.system = "lorenz63"
    after, direct = state.experiment, run_experiment(Settings())
    assert after is not before  # solved again, not a kept object
    np.testing.assert_array_equal(after.truth, direct.truth)
    assert list(after.methods) == list(direct.methods)
    for name, output in after.methods.items():
        np.testing.assert_array_equal(output.trajectory, before.methods[name].trajectory)
        np.testing.assert_array_equal(output.trajectory, direct.methods[name].trajectory)
        assert output.rmse_assim == direct.methods[name].rmse_assim


@pytest.mark.ci
def test_the_lorenz96_page_shows_cores_own_numbers_and_never_recompiles():
    """The page's RMSEs equal those of core's methods run directly on the problem core generates for the
    authors' set-up; moving the seed, noise, forcing, share or density compiles nothing."""
    import jax

    from core.da.method import analyse
    from core.methods.learned import FourDVarNetMethod
    from core.methods.variational import Strong4DVar
    from core.methods.weak_variational import Weak4DVar
    from core.nets.model_files import load_model
    from core.setups.lorenz96_windows import AUTHORS_SETUP
    from core.setups.problems import generate_problem
    from core.studies.lorenz96_windows import MODEL_PATH, WEAK_Q, FreeRun
    from core.studies.windows import window_rmse
    from dashboard.data.lorenz96_compute import WEAK_STEPS, run_experiment96
    from dashboard.state.explore import ExperimentState

    state = ExperimentState(solve=lambda s: None, solve96=run_experiment96)
    state.update(system="lorenz96", seed=5)
    page = state.experiment
    assert state.error == "" and list(page.methods) == ["free_run", "strong_4dvar", "weak_4dvar", "fourdvarnet"]

    problem = generate_problem(jax.random.PRNGKey(5), **{**AUTHORS_SETUP, "T_total": AUTHORS_SETUP["T_assim"]})
    model = load_model(MODEL_PATH, architecture="fourdvarnet")[0]
    direct = {
        "free_run": FreeRun(),
        "strong_4dvar": Strong4DVar("quasi-static"),
        "weak_4dvar": Weak4DVar(WEAK_Q, WEAK_STEPS, quasi_static=False),
        "fourdvarnet": FourDVarNetMethod(model),
    }
    np.testing.assert_allclose(page.truth, np.asarray(problem.truth), rtol=0, atol=0)
    for name, method in direct.items():
        window = np.asarray(analyse(method, problem).window, dtype=np.float64)
        truth = np.asarray(problem.truth_window, dtype=np.float64)
        assert page.methods[name].rmse_window == pytest.approx(np.sqrt(np.mean((window - truth) ** 2)), rel=1e-5)
        batch = jax.tree_util.tree_map(lambda a: a[None], problem)
        assert page.methods[name].rmse_scored == pytest.approx(float(window_rmse(window[None], batch)[0]), rel=1e-5)

    with count_compiles() as compiles:
        for values in ({"seed": 6}, {"noise_variance": 1.0}, {"model_forcing": 9.0}, {"observed_share": 0.8}):
            state.update(**values)
            assert state.error == ""
        state.update(obs_every_96=2)
    assert compiles.n == 0
    assert "fourdvarnet" not in state.experiment.methods and "trained: 2" in state.experiment.notes["fourdvarnet"]


def _synthetic_experiment(settings):
    """An Experiment96 built by hand (no solve): a travelling wave as the truth, known errors."""
    from dashboard.data.lorenz96_compute import Experiment96, method_output96

    class Analysis:
        def __init__(self, status, steps):
            self.status, self.num_steps = status, steps

    t = np.arange(settings.window + 1) * 0.05
    truth = 3.0 * np.sin(t[:, None] - np.arange(40)[None, :] / 6.0)
    strong = truth + 0.5 * np.cos(3 * t)[:, None]  # an error of at most 0.5, +-, every variable
    free = np.zeros_like(truth)
    obs = np.full_like(truth, np.nan)
    obs[::4, ::2] = truth[::4, ::2]
    methods = {
        "free_run": method_output96(free, Analysis(-1, 0), truth, settings.window, 1.0),
        "strong_4dvar": method_output96(strong, Analysis(0, 12), truth, settings.window, 2.0),
    }
    return Experiment96(settings, t, truth, obs, methods, notes={"fourdvarnet": "FourDVarNet not shown: test"})


def test_the_lorenz96_view_draws_the_error_map_on_a_symmetric_range_and_switches_back():
    from dashboard.state.explore import ExperimentState
    from dashboard.views.explore import ExploreView

    state = ExperimentState(solve=lambda s: None, solve96=_synthetic_experiment)
    view = ExploreView(state=state, alert=None)
    view.__panel__()
    state.update(system="lorenz96", variable=6)
    view.refresh()
    figures, experiment = view.lorenz96.figures, state.experiment
    assert view._lorenz96_holder.visible and not view._lorenz63_layout.visible
    error = figures.error_image.data["image"][0]
    np.testing.assert_allclose(error, (experiment.methods["strong_4dvar"].trajectory - experiment.truth).T, atol=1e-6)
    assert np.max(np.abs(error)) <= 0.5  # below the range's floor: +-1
    assert (figures.error_mapper.low, figures.error_mapper.high) == (-1.0, 1.0)
    state.map_method = "free_run"  # an error of up to 3 (the truth itself): the range follows it, symmetric
    view.refresh()
    assert figures.error_mapper.high == -figures.error_mapper.low == pytest.approx(np.max(np.abs(experiment.truth)))
    # The series follows variable 6: the truth's row, then one row per method; its observations as crosses.
    np.testing.assert_array_equal(figures.curves.data["value"][0], experiment.truth[:, 6])
    np.testing.assert_array_equal(figures.obs.data["value"], experiment.truth[::4, 6])
    assert "FourDVarNet not shown: test" in view.lorenz96.table.object
    assert "converged" in view.lorenz96.table.object  # the strong 4DVar's status (code 0)
    state.system = "lorenz63"  # (a solve of None: the Lorenz-63 view takes over again)
    view.refresh()
    assert not view._lorenz96_holder.visible and view._lorenz63_layout.visible


def test_the_sidebar_system_carries_the_cycle_tab_and_the_lorenz63_tabs_say_so(monkeypatch):
    """Explore and Cycle run Lorenz-96; Train, Generalisation and Landscape say plainly that they do not."""
    from dashboard.app import CYCLE_TAB, LORENZ63_ONLY_TABS, Dashboard
    from dashboard.state.explore import ExperimentState

    # A tab's change shows or hides the note; the tabs themselves are not built (seconds of solves).
    monkeypatch.setattr(Dashboard, "_on_tab", lambda app, event: app._on_lorenz63_only())
    counted = ExperimentState(solve=lambda settings: None, solve96=lambda settings: None)
    app = Dashboard(state=counted)
    assert app.cycle_state.system == "lorenz63" and not app.lorenz63_only.visible
    counted.system = "lorenz96"
    # The Cycle tab's state (deferred: nothing runs until the tab opens) takes the system and its set-up.
    assert app.cycle_state.system == "lorenz96" and (app.cycle_state.obs_every, app.cycle_state.ensemble_size) == (1, 7)
    for tab in LORENZ63_ONLY_TABS:
        app.tabs.active = tab
        assert app.lorenz63_only.visible, tab
    for tab in (0, CYCLE_TAB):
        app.tabs.active = tab
        assert not app.lorenz63_only.visible, tab
    app.tabs.active = LORENZ63_ONLY_TABS[0]
    counted.system = "lorenz63"
    assert app.cycle_state.system == "lorenz63" and not app.lorenz63_only.visible
