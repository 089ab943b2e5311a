"""The Cycle tab on Lorenz-96 and with model error, without a browser: its numbers against the cycle
command's, Lorenz-63's numbers unchanged after a round trip, no recompiles on a mismatch move, and
crafted values refused with the control's range. Runs at 250 cycles (a shape the state offers)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import count_compiles

from dashboard.data import cycle_data
from dashboard.data.cycle_lorenz96 import error_image
from dashboard.state.cycle import CycleState


def _counting_state(**params):
    calls = []

    def counting(methods, settings):
        calls.append((tuple(methods), settings))
        return cycle_data.run_all(methods, settings)

    return CycleState(run=counting, **params), calls


@pytest.mark.ci
def test_lorenz96_scores_equal_the_cycle_commands_on_sakov2008(capsys):
    """The tab's Lorenz-96 defaults are sakov2008's documented set-up, as `python -m core cycle --system
    lorenz96` fills it: its rmse_a, rmse_f and spread equal the command's JSON for the same key."""
    from core.cli.main import main

    state, _ = _counting_state(system="lorenz96", n_cycles=250, seed=3)
    assert (state.obs_every, state.obs_noise, state.ensemble_size, state.inflation) == (1, 1.0, 7, 1.04)
    argv = ["cycle", "--system", "lorenz96", "--method", "var3d", "--method", "letkf", "--n-cycles", "250"]
    assert main([*argv, "--key", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["setup"]["burn_in"] == state.truth.burn_in == 125
    for name in ("var3d", "letkf"):
        got, expected = state.runs[name].scores, payload["methods"][name]
        for score in ("rmse_a", "rmse_f", "spread_a"):
            assert got[score] == pytest.approx(expected[score], rel=1e-5), (name, score)
        # The per-cycle series, averaged over the scored cycles, is the time-averaged score.
        assert np.mean(state.runs[name].rmse_a[125:]) == pytest.approx(expected["rmse_a"], rel=1e-5)
    # The LETKF (N 7 < 40 variables, localised) beats 3DVar, as in DAPPER's table (0.22 against 0.41).
    assert state.runs["letkf"].scores["rmse_a"] < state.runs["var3d"].scores["rmse_a"]
    # The map is the analysis error itself: variables down, cycles across, centred on 0.
    image = error_image(state.runs["letkf"], state.truth)
    np.testing.assert_array_equal(image["image"][0][:, 200], state.runs["letkf"].mean[200] - state.truth.truth_obs[200])
    assert image["dh"] == [40.0] and image["dw"][0] == pytest.approx(250 * 0.05)


@pytest.mark.ci  # ~10 s of compiles on 2 cores
def test_switching_to_lorenz96_and_back_gives_lorenz63_its_numbers_bit_for_bit():
    state, calls = _counting_state(n_cycles=250, seed=3, methods=["var3d"])
    before_settings, before = state.settings(), state.runs["var3d"]
    state.update(system="lorenz96", methods=["var3d"])  # (the LETKF, its default beside 3DVar, costs a compile)
    assert len(calls) == 2 and calls[-1][1].system == "lorenz96" and state.methods == ["var3d"]
    assert (state.obs_every, state.obs_noise, state.ensemble_size, state.inflation) == (1, 1.0, 7, 1.04)
    assert state.runs["var3d"].mean.shape == (250, 40)
    # Recomputed, not read from the cache: the numbers come from core again.
    cycle_data._method_cached.cache_clear()
    cycle_data._truth_cached.cache_clear()
    state.update(system="lorenz63", methods=["var3d"])
    assert len(calls) == 3 and state.settings() == before_settings
    after = state.runs["var3d"]
    assert after is not before
    np.testing.assert_array_equal(after.rmse_a, before.rmse_a)
    np.testing.assert_array_equal(after.mean, before.mean)
    assert after.scores == before.scores


def test_a_mismatch_move_changes_the_methods_model_and_never_recompiles():
    state, calls = _counting_state(system="lorenz96", n_cycles=250, seed=3, methods=["var3d"])
    perfect = state.runs["var3d"].scores["rmse_a"]
    state.update(model_forcing=7.5, model_noise=0.2)  # the first mismatch: the truth's noise path runs once
    with count_compiles() as compiles:
        state.update(model_forcing=7.0, model_noise=0.5)
        state.model_forcing = 6.0
    assert compiles.n == 0 and state.error == "" and len(calls) == 4
    assert calls[-1][1].model_value == 6.0 and calls[-1][1].model_noise == 0.5
    # A wrong F costs 3DVar accuracy: its analysis error grows with the gap.
    assert state.runs["var3d"].scores["rmse_a"] > perfect


@pytest.mark.ci
def test_weak_4dvars_q_and_lorenz63s_rho_move_without_recompiling():
    state, calls = _counting_state(n_cycles=250, seed=3, methods=["strong_4dvar", "weak_4dvar"])
    state.update(model_rho=26.0, model_noise=0.1, model_error_q=0.5)
    with count_compiles() as compiles:
        state.update(model_rho=30.0, model_noise=0.3, model_error_q=2.0)
    assert compiles.n == 0 and state.error == ""
    assert calls[-1][1].model_value == 30.0 and calls[-1][1].model_error_q == 2.0
    # With the wrong rho, letting the model err beats trusting it (issue 18's lesson).
    assert state.runs["weak_4dvar"].scores["rmse_a"] < state.runs["strong_4dvar"].scores["rmse_a"]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"system": "lorenz99"}, "system"),
        ({"model_forcing": 50.0}, "model_forcing must be between 4.0 and 12.0"),
        ({"model_rho": "28"}, "model_rho must be a number between 20.0 and 34.0"),
        ({"model_noise": -0.1}, "model_noise must be between 0.0 and 5.0"),
        ({"model_error_q": float("nan")}, "model_error_q"),
        ({"localisation_radius": 0.0}, "localisation_radius must be between 0.5 and 20.0"),
        ({"methods": ["letkf", "fourdvarnet"]}, "methods must be one of"),  # not offered on Lorenz-96
        ({"system": "lorenz63", "methods": ["kalman_magic"]}, "methods must be one of"),
    ],
)
def test_crafted_values_are_refused_with_their_range_and_change_nothing(values, words):
    calls = []
    state = CycleState(run=lambda methods, settings: calls.append(settings) or (None, {}), system="lorenz96")
    before = {name: getattr(state, name) for name in state.setting_names()}
    with pytest.raises(ValueError, match=words):
        state.update(**values)
    assert {name: getattr(state, name) for name in state.setting_names()} == before
    assert len(calls) == 1  # the first run only: nothing ran for the refused values
    assert cycle_data.offered_methods("lorenz96") == tuple(state.param.methods.objects.values())


def test_the_pages_cycle_system_lives_in_the_url_and_runs_nothing_before_the_tab_opens():
    from panel.io.location import Location

    from dashboard.state.cycle import CYCLE_URL_PARAMETERS

    calls, refused = [], []
    state = CycleState(run=lambda methods, settings: calls.append(settings) or (None, {}), compute=False, defer=True)
    location = Location(search="?cycle_system=lorenz96")
    location.sync(state, CYCLE_URL_PARAMETERS)
    assert state.system == "lorenz96" and state.obs_every == 1 and calls == []  # the link's system, no run yet
    state.activate()  # the tab is opened
    assert len(calls) == 1 and calls[0].system == "lorenz96"
    state.system = "lorenz63"
    assert "cycle_system=lorenz63" in location.search
    crafted = CycleState(run=lambda methods, settings: (None, {}), compute=False, defer=True)
    Location(search="?cycle_system=lorenz99").sync(crafted, CYCLE_URL_PARAMETERS, on_error=refused.append)
    assert crafted.system == "lorenz63" and refused == [{"system": "lorenz99"}]


def test_the_lorenz96_view_draws_the_map_the_series_and_the_table_from_the_run():
    pytest.importorskip("panel")
    from dashboard.views.cycle_view import CycleView

    state, calls = _counting_state(system="lorenz96", n_cycles=250, seed=3, methods=["var3d"])
    view = CycleView(state=state)
    plots, run, truth = view.lorenz96, state.runs["var3d"], state.truth
    assert plots.layout.visible and not view.lorenz63.visible and view.widgets["model_forcing"].visible
    image = plots.image.data["image"][0]
    np.testing.assert_array_equal(image, (run.mean - truth.truth_obs).T)  # the chosen LETKF did not run: 3DVar's
    assert plots.mapper.high == -plots.mapper.low > 0  # symmetric about no error
    plots.variable = 17  # a display choice: a slice of the run, no new run
    assert len(calls) == 1
    np.testing.assert_array_equal(plots.series_sources["truth"].data["value"], truth.truth_obs[:, 17])
    np.testing.assert_array_equal(plots.series_sources["var3d"].data["value"], run.mean[:, 17])
    np.testing.assert_array_equal(plots.rmse_sources["var3d"].data["rmse"], np.maximum(run.rmse_a, 1e-2))
    assert "ms/cycle" in view.table.object and f"{run.scores['rmse_a']:.3g}" in view.table.object
    with pytest.raises(ValueError):
        plots.variable = 40
    state.update(system="lorenz63", methods=["var3d"])  # back: the animated window again
    assert view.lorenz63.visible and not plots.layout.visible and view.player.end == state.n_cycles - 1
