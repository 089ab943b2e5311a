"""The method interface: `run` is analysis + forecast, `run_batch` is `run` vmapped, every method's
`Analysis` agrees with the function it wraps, and a new method written here (one class and one
registration, no other file touched) shows up in `reproduce`, the sweep and the dashboard."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import COMPILE_MS, READ_MS, compile_clock, count_compiles, within_float32_rounding

import core
from core.da.method import direct_analysis


class PersistObservations(core.AbstractMethod):
    """A toy method: hold each observed value until the next observation (the background before
    the first one). It ignores the dynamics, so it should score between the free run and 4DVar."""

    def analyse(self, problem):
        def hold(last, row):
            obs, mask = row
            value = jnp.where(mask > 0, obs, last)
            return value, value

        _, window = jax.lax.scan(hold, problem.background_mean, (problem.obs, problem.mask))
        return direct_analysis(window)


@pytest.fixture
def toy_method():
    core.register_method(
        "persist_observations", lambda context: PersistObservations(), label="persist the observations"
    )
    yield "persist_observations"
    core.unregister_method("persist_observations")


def test_run_is_the_analysis_then_the_models_forecast():
    problem = core.generate_problem(jax.random.PRNGKey(0))
    trajectory, analysis = core.run(core.Strong4DVar(), problem)
    solve = core.strong_4dvar(problem)
    # The window is the model run from the solved x0, and so is the forecast after it.
    np.testing.assert_allclose(analysis.window[0], solve.x0, rtol=1e-6)
    np.testing.assert_allclose(trajectory, problem.forward.rollout(solve.x0, problem.T_total), rtol=1e-4, atol=1e-4)
    assert bool(analysis.converged) == bool(solve.converged) and int(analysis.num_steps) == int(solve.num_steps)
    np.testing.assert_allclose(analysis.cost, core.cost(solve.x0, problem), rtol=1e-5)


def test_run_batch_equals_run_problem_by_problem():
    """Vmapped and one by one, the same numbers: in float64 over the whole forecast, and in float32
    (what the dashboard runs) as far as chaos lets rounding stay small (`within_float32_rounding`)."""
    with jax.enable_x64(True):
        problems = core.generate_problems(jax.random.PRNGKey(1), 4)
        trajectories, analyses = core.run_batch(core.OptimalInterpolation(), problems)
        assert trajectories.dtype == np.float64
        for i in range(4):
            one, analysis = core.run(core.OptimalInterpolation(), core.index_problem(problems, i))
            np.testing.assert_allclose(trajectories[i], one, rtol=1e-9, atol=1e-9)
            assert int(analyses.status[i]) == int(analysis.status) == core.STATUS_DIRECT
    problems = core.generate_problems(jax.random.PRNGKey(1), 4)
    trajectories, _ = core.run_batch(core.OptimalInterpolation(), problems)
    for i in range(4):
        one, _ = core.run(core.OptimalInterpolation(), core.index_problem(problems, i))
        within_float32_rounding(trajectories[i], one, problems.dt, problems.T_assim)


def test_direct_methods_have_no_cost_and_are_never_called_converged():
    problem = core.generate_problem(jax.random.PRNGKey(2))
    evaluation = core.evaluate(core.FreeRun(), problem, timing=None)
    assert not evaluation.iterative and evaluation.converged_fraction is None
    assert np.isnan(evaluation.analysis.cost)
    # The free run is the model run from the background mean, whatever the observations say.
    np.testing.assert_allclose(
        evaluation.trajectory, problem.forward.rollout(problem.background_mean, problem.T_total), rtol=1e-5
    )


def test_evaluate_reports_runtime_apart_from_compile(monkeypatch):
    """On a clock where each read takes 1 ms and each compile 500 ms, the first call's compiles are
    reported as compile time and the runtime is the warm calls' 1 ms exactly."""
    from core.da import evaluation as evaluation_module

    # A window length no other test uses: `run` must compile for it here.
    problem = core.generate_problem(jax.random.PRNGKey(3), T_assim=37)
    with compile_clock() as clock, count_compiles() as compiles:
        monkeypatch.setattr(evaluation_module, "time", clock)
        evaluation = core.evaluate(core.OptimalInterpolation(), problem, timing=core.QUICK_TIMING)
    assert compiles.n >= 1
    assert evaluation.runtime_ms == pytest.approx(READ_MS)
    # Compile time is the first call's compiles (a whole number of them, at least one), nothing else.
    compiles_in_first_call = evaluation.compile_ms / COMPILE_MS
    assert (
        compiles_in_first_call == pytest.approx(round(compiles_in_first_call))
        and 1 <= compiles_in_first_call <= compiles.n
    )
    expected = np.sqrt(np.mean((evaluation.trajectory[:38] - np.asarray(problem.truth[:38])) ** 2))
    np.testing.assert_allclose(evaluation.rmse_assim, expected, rtol=1e-5)


def test_registration_refuses_clashes_and_bad_names():
    with pytest.raises(ValueError, match="already registered"):
        core.register_method("oi", lambda context: core.OptimalInterpolation(), label="again")
    with pytest.raises(ValueError, match="method name"):
        core.register_method("Bad Name", lambda context: core.OptimalInterpolation(), label="bad")


@pytest.mark.ci  # ~14 s on 2 loaded cores: `reproduce` end to end
def test_a_new_method_shows_up_in_reproduce(toy_method, monkeypatch):
    from core.studies import reproduce as reproduce_module

    # Skip the reference training and the shipped model: only the method list is under test.
    monkeypatch.setattr(reproduce_module, "fit", lambda config: (None, core.TrainingReport([], 0.0, 0.0)))
    monkeypatch.setattr(reproduce_module, "our_model", lambda *args: (None, None))
    payload = reproduce_module.reproduce(preset="attractor", key=0, n_problems=4)
    toy, free, fourdvar = (payload["methods"][m] for m in (toy_method, "free_run", "strong_4dvar"))
    assert toy["batch"]["n_problems"] == 4 and toy["converged"] is None
    # Holding the observations beats ignoring them, and loses to 4DVar.
    assert fourdvar["rmse_assim"] < toy["rmse_assim"] < free["rmse_assim"]


@pytest.mark.ci  # ~13 s on 2 loaded cores: the sweep end to end
def test_a_new_method_shows_up_in_the_sweep(toy_method):
    from core.studies.sweep import SweepPlan, evaluate_sweep

    plan = SweepPlan(train_densities=(), test_densities=(5,), test_noises=(), test_components=(), n_problems=8)
    rows = {r["model"]: r for r in evaluate_sweep({}, plan)}
    assert toy_method in rows and rows["strong_4dvar"]["ratio_to_4dvar"] == 1.0
    assert rows[toy_method]["ratio_to_4dvar"] > 1.0


def test_a_new_method_shows_up_in_the_dashboard(toy_method):
    from dashboard.data import compute
    from dashboard.state.explore import ExperimentState

    assert toy_method in compute.solved_methods()
    # A new page offers it among the curves a student may tick; ticking it solves it.
    state = ExperimentState()
    assert state.param.shown.names["persist the observations"] == toy_method
    state.shown = [*state.shown, toy_method]
    assert state.error == "" and toy_method in state.experiment.methods
    settings = compute.Settings(methods=("strong_4dvar", toy_method))
    experiment = compute.run_experiment(settings)
    assert experiment.methods[toy_method].rmse_assim > experiment.methods["strong_4dvar"].rmse_assim
