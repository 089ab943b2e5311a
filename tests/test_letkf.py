"""The LETKF and the Lorenz-96 cycle against independent facts: the global square-root EnKF at an
infinite radius, localisation's point (a small ensemble diverges without it), DAPPER's sakov2008."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import core
from core.methods.cycle_methods import CycledOI
from core.methods.ensemble import LETKF, EnKFSqrt, IEnKS, local_sqrt_analysis, sqrt_analysis
from core.methods.localisation import batch_tapers
from core.setups.sakov2008 import EXPECTED_RMSE_A, burn_in, sakov2008


def test_one_analysis_at_an_infinite_radius_is_the_global_square_root_update():
    setup = sakov2008(n_cycles=2, observed=tuple(range(0, 40, 3)))  # a third observed: zero columns too
    key_e, key_y = jax.random.split(jax.random.PRNGKey(0))
    ensemble = 2.3 + 3.6 * jax.random.normal(key_e, (10, 40))
    y = setup.observed * (ensemble[0] + jax.random.normal(key_y, (40,)))
    local = local_sqrt_analysis(ensemble, y, setup, jnp.inf, batch_size=2)
    np.testing.assert_allclose(local, sqrt_analysis(ensemble, y, setup), atol=2e-5)


def test_a_cycle_at_an_infinite_radius_is_the_square_root_enkf():
    """Same keys, same rotations: the two filters agree cycle for cycle (a filter does not amplify
    rounding: its analyses pull both towards the same observations)."""
    setup = sakov2008(n_cycles=60)
    truth = core.simulate(setup, jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    local = core.run_cycle(LETKF(10, 1.02, True, jnp.inf), setup, truth, key)
    global_ = core.run_cycle(EnKFSqrt(10, 1.02, True), setup, truth, key)
    np.testing.assert_allclose(local.analysis_mean, global_.analysis_mean, atol=1e-3)


def test_tapers_fall_with_distance_and_vanish_past_the_support():
    tapers = np.asarray(batch_tapers(40, 2, 4.0))  # 20 batches x 40 observations
    assert tapers.shape == (20, 40)
    np.testing.assert_allclose(tapers[0, :2], tapers[0, 0])  # both variables of batch 0: distance 0.5
    # Batch 0 holds variables 0 and 1: observation 21 is 20.5 away on average, past 2 * 1.82 * 4.
    assert tapers[0, 21] == 0.0 and tapers[0, 0] > 0.95
    np.testing.assert_array_equal(tapers[5], np.roll(tapers[0], 10))  # the circle has no edges


@pytest.mark.ci  # ~9 s: a long LETKF run
def test_localisation_lets_seven_members_track_forty_variables():
    """N = 7 spans 6 directions of a 40-variable state: the global square-root EnKF loses the truth,
    the LETKF (DAPPER's tuning) tracks it below the observation noise (1)."""
    setup = sakov2008(n_cycles=700)
    truth = core.simulate(setup, jax.random.PRNGKey(3))
    key = jax.random.PRNGKey(4)
    local = core.cycle_scores(core.run_cycle(LETKF(7, 1.04, True, 4.0), setup, truth, key), truth, burn_in(1))
    global_ = core.cycle_scores(core.run_cycle(EnKFSqrt(7, 1.04, True), setup, truth, key), truth, burn_in(1))
    assert local["rmse_a"] < 0.35
    assert global_["rmse_a"] > 1.0


def test_a_new_radius_reuses_the_compiled_cycle():
    setup = sakov2008(n_cycles=5)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    traces = []
    original = LETKF.cycle

    def counting(self, *args):
        traces.append(1)  # runs only while tracing
        return original(self, *args)

    LETKF.cycle = counting
    try:
        first = core.run_cycle(LETKF(7, 1.04, True, 4.0), setup, truth, jax.random.PRNGKey(0))
        second = core.run_cycle(LETKF(7, 1.04, True, 2.0), setup, truth, jax.random.PRNGKey(0))
    finally:
        LETKF.cycle = original
    assert len(traces) == 1
    assert not np.allclose(first.analysis_mean, second.analysis_mean)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["oi", "letkf", "enkf_perturbed", "var3d"])
def test_sakov2008_within_ten_percent_of_dapper(name):
    expected, options = EXPECTED_RMSE_A[name]
    setup = sakov2008(n_cycles=2000)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    method = {
        "oi": lambda: CycledOI(),
        "letkf": lambda: LETKF(**options),
        "enkf_perturbed": lambda: core.EnKFPerturbed(options["n_members"], options["inflation"]),
        "var3d": lambda: core.CycledVar3D(options["b_scale"]),
    }[name]()
    scores = core.cycle_scores(core.run_cycle(method, setup, truth, jax.random.PRNGKey(1)), truth, burn_in(1))
    assert abs(scores["rmse_a"] / expected - 1) <= 0.10


@pytest.mark.slow
def test_sakov2008_ienks_within_ten_percent_of_dapper():
    expected, options = EXPECTED_RMSE_A["ienks"]
    setup = sakov2008(obs_every=options["obs_every"], n_cycles=1000)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    method = IEnKS(options["n_members"], options["inflation"], options["rotate"], lag=1)
    scores = core.cycle_scores(core.run_cycle(method, setup, truth, jax.random.PRNGKey(1)), truth, burn_in(12))
    assert abs(scores["rmse_a"] / expected - 1) <= 0.10
