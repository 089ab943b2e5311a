"""Scoring: trajectories assembled as the reference does, RMSEs against hand values, statistics."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import COMPILE_MS, READ_MS, compile_clock, count_compiles

import core


def test_assemble_from_x0_and_from_a_window():
    problem = core.generate_problem(jax.random.PRNGKey(0))
    forward = core.Lorenz63Forward(dt=problem.dt)
    from_x0 = core.assemble_full_trajectory(problem.truth[0], problem, forward)
    np.testing.assert_allclose(from_x0, forward.rollout(problem.truth[0], 1000), rtol=1e-6)
    window = problem.truth_window + 0.1
    full = core.assemble_full_trajectory(window, problem, forward)
    assert full.shape == (1001, 3)
    np.testing.assert_array_equal(full[:51], window)
    np.testing.assert_allclose(full[50:], forward.rollout(window[-1], 950), rtol=1e-6)


def test_rmses_of_a_known_offset():
    problem = core.generate_problem(jax.random.PRNGKey(1))
    offset = jnp.zeros((1001, 3)).at[:51].set(2.0).at[51:, 0].set(3.0)
    s = core.scores(problem.truth + offset, problem)
    np.testing.assert_allclose(s["rmse_assim"], 2.0, rtol=1e-5)
    np.testing.assert_allclose(s["rmse_forecast"], 3.0 / np.sqrt(3), rtol=1e-5)
    np.testing.assert_allclose(s["rmse_total"], np.sqrt((51 * 12 + 950 * 9) / (1001 * 3)), rtol=1e-5)
    np.testing.assert_allclose(s["rmse_trace"][:51], 2.0, rtol=1e-5)


def test_predictability_time_is_the_first_crossing_after_the_window():
    problem = core.generate_problem(jax.random.PRNGKey(2))
    threshold = core.PREDICTABILITY_FRACTION * core.ATTRACTOR_SIZE
    trace = np.full(1001, 0.1)
    trace[10] = 100.0  # inside the window: ignored
    trace[300:] = threshold * 1.01
    assert core.predictability_time(trace, problem) == 3.0
    assert math.isnan(core.predictability_time(np.full(1001, 0.1), problem))


def test_run_method_scores_and_times_a_callable(monkeypatch):
    """On a clock where each read takes 1 ms and each compile 500 ms, the callable's first-call
    compiles are reported apart and its runtime is the warm calls' 1 ms."""
    from core.da import evaluation

    # A window length no other test uses: `run` must compile for it here.
    problem = core.generate_problem(jax.random.PRNGKey(42), preset="seed", T_assim=43)
    with compile_clock() as clock, count_compiles() as compiles:
        monkeypatch.setattr(evaluation, "time", clock)
        result = core.run_method("strong_4dvar", lambda: core.run(core.Strong4DVar(), problem)[0], problem)
    assert compiles.n >= 1
    assert result.runtime_ms == pytest.approx(READ_MS)
    # Compile time is the first call's compiles (a whole number of them, at least one), nothing else.
    compiles_in_first_call = result.compile_ms / COMPILE_MS
    assert (
        compiles_in_first_call == pytest.approx(round(compiles_in_first_call))
        and 1 <= compiles_in_first_call <= compiles.n
    )
    assert result.mean.shape == (1001, 3) and result.rmse_trace.shape == (1001,)
    window = problem.T_assim + 1
    np.testing.assert_allclose(result.rmse_assim, np.sqrt(np.mean(result.rmse_trace[:window] ** 2)), rtol=1e-5)


def test_batch_statistics_match_numpy():
    problems = core.generate_problems(jax.random.PRNGKey(3), 20)
    evaluation = core.evaluate(core.FreeRun(), problems, timing=None)
    trajectories, stats = evaluation.trajectory, evaluation.statistics()
    per_problem = np.sqrt(np.mean((np.asarray(trajectories) - np.asarray(problems.truth))[:, :51] ** 2, axis=(1, 2)))
    assert stats["n_problems"] == 20
    np.testing.assert_allclose(stats["rmse_assim"]["median"], np.median(per_problem), rtol=1e-5)
    np.testing.assert_allclose(stats["rmse_assim"]["p90"], np.percentile(per_problem, 90), rtol=1e-5)


def test_batch_predictability_counts_a_skilful_forecast_as_the_whole_run():
    problems = core.generate_problems(jax.random.PRNGKey(4), 3, preset="seed")
    # The seed preset's truth stays by C+: a perfect trajectory never loses skill.
    stats = core.evaluate(Oracle(), problems, timing=None).statistics()
    assert stats["predictability_time"]["median"] == 10.0
    attractor = core.generate_problems(jax.random.PRNGKey(5), 3)
    free = core.evaluate(core.FreeRun(), attractor, timing=None)
    each = [
        core.predictability_time(
            core.scores(free.trajectory[i], core.index_problem(attractor, i))["rmse_trace"], attractor
        )
        for i in range(3)
    ]
    np.testing.assert_allclose(free.statistics()["predictability_time"]["median"], np.median(each))


class Oracle(core.AbstractMethod):
    """Knows the truth: a perfect window (the test's independent reference)."""

    def analyse(self, problem):
        from core.da.method import direct_analysis

        return direct_analysis(problem.truth_window)
