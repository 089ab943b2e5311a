"""The Cycle tab without a browser: the state's bounds, the data against core's own numbers, the Player.

Runs at 250 cycles (a shape the state offers) to keep CI short.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

import core
from dashboard.data import cycle_data
from dashboard.data.cycle_data import CycleSettings, method_run, method_window, truth_run, window_bounds
from dashboard.state.cycle import CycleState

SHORT = CycleSettings(obs_every=20, obs_noise=1.5, n_cycles=250, seed=3)


def _sawtooth_by_cycle(run, every):
    return run.mean.reshape(-1, every + 1, 3), run.spread.reshape(-1, every + 1, 3)


# -- the state's bounds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("obs_every", 0),
        ("obs_every", cycle_data.MAX_OBS_EVERY + 1),
        ("obs_noise", -1.0),
        ("obs_noise", 50.0),
        ("inflation", 1.5),
        ("lag", 0),
        ("ensemble_size", 8),  # a shape: only the offered sizes
        ("n_cycles", 123),
        ("methods", ["enkf_sqrt", "kalman_magic"]),
        ("seed", -3),
    ],
)
def test_state_refuses_out_of_range_values_and_keeps_its_own(name, value):
    calls = []
    state = CycleState(run=lambda methods, settings: calls.append(settings) or (None, {}), compute=False)
    before = getattr(state, name)
    with pytest.raises(ValueError):
        setattr(state, name, value)
    assert getattr(state, name) == before
    assert calls == []  # nothing was run for a refused value


def test_core_refuses_what_bypasses_the_state():
    """Values crafted past the param class (a hand-made CycleSettings) are refused again in core."""
    with pytest.raises(ValueError, match="obs_every"):
        cycle_data.setup_of(CycleSettings(obs_every=0))
    with pytest.raises(ValueError, match="inflation"):
        cycle_data.build_method("enkf_sqrt", CycleSettings(inflation=7.0))
    with pytest.raises(ValueError, match="lag"):
        cycle_data.build_method("ienks", CycleSettings(lag=0))
    with pytest.raises(ValueError, match="obs_noise"):
        cycle_data.setup_of(CycleSettings(obs_noise=math.nan))


def test_a_refusal_from_core_is_a_message_not_a_crash():
    def refuse(methods, settings):
        raise ValueError("inflation must be between 0.5 and 3.0; got 9")

    state = CycleState(run=refuse, compute=False)
    state.update()
    assert "inflation must be between" in state.error and state.runs == {}


# -- the data against core's own numbers -------------------------------------------------------


def test_scores_equal_cores_own_cycle_run():
    """The table's scores are those of `core.run_cycle` on `simulate(key)` with key + 1, as the CLI's."""
    setup = core.sakov2012(obs_every=SHORT.obs_every, obs_noise=SHORT.obs_noise, n_cycles=SHORT.n_cycles)
    truth = core.simulate(setup, jax.random.PRNGKey(SHORT.seed))
    burn_in = cycle_data.burn_in_cycles(SHORT.obs_every, SHORT.n_cycles)
    assert burn_in == min(core.default_burn_in(20), 125) == 80
    for name in ("var3d", "enkf_sqrt"):
        record = core.run_cycle(core.build_cycled_method(name), setup, truth, jax.random.PRNGKey(SHORT.seed + 1))
        expected = core.cycle_scores(record, truth, burn_in)
        got = method_run(name, SHORT).scores
        assert got["rmse_a"] == pytest.approx(expected["rmse_a"], rel=1e-5)
        assert got["rmse_a_stderr"] == pytest.approx(expected["rmse_a_stderr"], rel=1e-4)
        assert got["spread_error_ratio"] == pytest.approx(expected["spread_error_ratio"], rel=1e-5)
        # The per-cycle series, averaged over the scored cycles, is the time-averaged score.
        assert np.mean(method_run(name, SHORT).rmse_a[burn_in:]) == pytest.approx(expected["rmse_a"], rel=1e-5)


@pytest.mark.parametrize("name", ["var3d", "enkf_sqrt"])
def test_sawtooth_ends_at_the_forecast_and_restarts_at_the_analysis(name):
    """Each cycle's drawn path ends at core's forecast mean and the next starts at its analysis mean."""
    setup = cycle_data.setup_of(SHORT)
    truth = truth_run(SHORT)
    record = core.run_cycle(cycle_data.build_method(name, SHORT), setup, truth.core_truth, jax.random.PRNGKey(4))
    run = method_run(name, SHORT)
    mean, spread = _sawtooth_by_cycle(run, SHORT.obs_every)
    np.testing.assert_allclose(mean[:, -1], record.forecast_mean, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(mean[1:, 0], record.analysis_mean[:-1], rtol=1e-4, atol=1e-3)
    if name == "enkf_sqrt":  # the band is the ensemble's spread, also at the analysis times
        np.testing.assert_allclose(spread[1:, 0], record.analysis_spread[:-1], rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(spread[:, -1], record.forecast_spread, rtol=1e-3, atol=1e-3)
    else:  # a deterministic method carries no spread between analyses: no band is drawn
        assert np.all(np.isnan(spread))
    # The error at every step, read at an analysis time, is the analysis error there.
    starts = run.error.reshape(-1, SHORT.obs_every + 1)[1:, 0]
    np.testing.assert_allclose(starts, run.rmse_a[:-1], rtol=1e-3, atol=1e-4)


def test_truth_at_every_step_passes_through_the_truth_at_analysis_times():
    truth = truth_run(SHORT)
    every = SHORT.obs_every
    np.testing.assert_allclose(truth.truth[::every], truth.truth_obs, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(truth.t[::every], truth.t_obs, atol=1e-9)
    assert np.all(np.diff(truth.t) > 0)


def test_lagged_ienks_sawtooth_starts_once_its_window_is_full():
    settings = CycleSettings(obs_every=20, obs_noise=1.5, n_cycles=250, seed=3, lag=2)
    run = method_run("ienks", settings)
    assert len(run.t) == (settings.n_cycles - 1) * (settings.obs_every + 1)
    assert run.t[0] == 0.0 and run.t[-1] == pytest.approx(0.01 * 20 * 249)
    assert run.scores["rmse_a"] < 1.0  # it tracks the truth (DAPPER: 0.28 at lag 2 on sakov2012)


def test_cache_is_shared_and_ignores_what_a_method_does_not_use():
    a = method_run("var3d", SHORT)
    assert method_run("var3d", SHORT) is a
    # 3DVar has no ensemble: a new inflation or ensemble size must not rerun it.
    assert method_run("var3d", CycleSettings(**{**SHORT.__dict__, "inflation": 1.1, "ensemble_size": 20})) is a


# -- the window the Player moves ---------------------------------------------------------------


def test_window_holds_only_its_times_and_reaches_the_analysis():
    truth = truth_run(SHORT)
    run = method_run("enkf_sqrt", SHORT)
    start, end = window_bounds(truth, 100)
    assert end == pytest.approx(truth.t_obs[100]) and end - start == pytest.approx(cycle_data.WINDOW_TIME)
    cols = method_window(run, start, end)
    assert cols["t"].min() >= start - 1e-6 and cols["t"].max() <= end + 1e-6
    # The window ends with cycle 100's forecast then its analysis, both at its end time.
    assert cols["t"][-1] == cols["t"][-2] == pytest.approx(end)
    np.testing.assert_allclose(cols["x"][-1], run.mean[:, 0].reshape(-1, 21)[101, 0], rtol=1e-6)
    inside = (run.t >= start - 1e-6) & (run.t <= end + 1e-6)
    np.testing.assert_allclose(cols["x_hi"] - cols["x"], run.spread[inside, 0], rtol=1e-5, atol=1e-5)
    line, points = cycle_data.truth_window(truth, start, end)
    assert len(points["t"]) == round(cycle_data.WINDOW_TIME / 0.2) + 1


def test_player_moves_the_window_without_recomputing():
    pytest.importorskip("panel")
    from dashboard.views.cycle_view import CycleView

    calls = []

    def counting(methods, settings):
        calls.append(settings)
        return cycle_data.run_all(methods, settings)

    state = CycleState(run=counting, obs_every=20, obs_noise=1.5, n_cycles=250, seed=3, methods=["var3d", "enkf_sqrt"])
    view = CycleView(state=state)
    assert len(calls) == 1 and view.player.end == 249
    view.player.value = 200
    assert len(calls) == 1  # playing slices what is computed
    src = view.sources["enkf_sqrt"].data
    assert max(src["t"]) == pytest.approx(state.truth.t_obs[200]) == pytest.approx(0.2 * 201)
    assert view.now.location == pytest.approx(0.2 * 201)
    assert len(view.sources["ienks"].data["t"]) == 0 and not any(r.visible for r in view.renderers["ienks"])
    assert "EnKF (square root)" in view.table.object and "iEnKS" not in view.table.object
    state.inflation = 1.05  # a slider: one new run, the window stays at its cycle
    assert len(calls) == 2 and view.player.value == 200
    assert f"{method_run('enkf_sqrt', state.settings()).scores['rmse_a']:.3g}" in view.table.object


def test_the_cycled_fourdvarnet_runs_at_its_spacing_and_is_refused_at_others():
    small = CycleSettings(n_cycles=250)
    run, truth = method_run("fourdvarnet", small), truth_run(small)
    # Its per-cycle analysis error is the distance of its analyses to the truth, computed here again.
    analyses = run.mean[np.isin(run.t, truth.t_obs)]
    assert np.isfinite(run.mean).all() and len(run.rmse_a) == small.n_cycles
    # It tracks the truth: after the burn-in its analysis error stays far below the attractor's size.
    assert np.median(run.rmse_a[truth.burn_in :]) < 1.0 and len(analyses) > 0
    with pytest.raises(ValueError, match="Observe every N steps"):
        cycle_data.run_all(["fourdvarnet"], CycleSettings(obs_every=20, n_cycles=250))
