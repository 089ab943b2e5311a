"""Cycled DA: the ensemble updates against the Kalman filter in closed form, the cycle against the free
run, the scores against their definitions, a short cycle of every method, and (slow) DAPPER's table."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import count_compiles

import core
from core.cli.main import main
from core.da.cycle import mean_with_stderr
from core.methods.ensemble import perturbed_obs_analysis, post_process, random_rotation, sqrt_analysis
from core.setups.sakov2012 import EXPECTED_RMSE_A

PRIOR_MEAN = np.array([1.0, -2.0, 20.0])
PRIOR_COV = np.array([[4.0, 2.5, 0.3], [2.5, 5.0, -0.5], [0.3, -0.5, 3.0]])
LINEAR_MODEL = np.array([[0.9, 0.2, 0.0], [-0.1, 1.0, 0.1], [0.0, 0.05, 0.95]])


def kalman_update(mean, cov, y, observed, noise_std):
    """The Kalman analysis with H = the rows of I for the observed components, R = noise_std^2 I."""
    h = np.eye(3)[list(observed)]
    r = noise_std**2 * np.eye(len(observed))
    gain = cov @ h.T @ np.linalg.inv(h @ cov @ h.T + r)
    return mean + gain @ (y[list(observed)] - h @ mean), (np.eye(3) - gain @ h) @ cov


def exact_moment_ensemble(mean, cov, n, seed=0):
    """N members whose sample mean and (N-1)-normalised covariance are exactly `mean` and `cov`."""
    z = np.random.default_rng(seed).standard_normal((n, 3))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T))).T  # whiten: sample cov = I
    return mean + z @ np.linalg.cholesky(cov).T


def setup_for(observed, noise_std):
    return core.sakov2012(obs_noise=noise_std, observed=observed, n_cycles=10)


@pytest.mark.parametrize("observed", [(0, 1, 2), (0, 2), (1,)])
def test_sqrt_update_keeps_the_kalman_mean_and_covariance(observed):
    setup = setup_for(observed, 1.3)
    ensemble = exact_moment_ensemble(PRIOR_MEAN, PRIOR_COV, 10)
    y = np.array([2.0, -1.0, 22.0])
    analysis = np.asarray(sqrt_analysis(jnp.asarray(ensemble, jnp.float32), jnp.asarray(y, jnp.float32), setup))
    mean, cov = kalman_update(PRIOR_MEAN, PRIOR_COV, y, observed, 1.3)
    np.testing.assert_allclose(analysis.mean(axis=0), mean, atol=2e-4 * np.abs(mean).max())
    np.testing.assert_allclose(np.cov(analysis.T), cov, atol=1e-3 * np.abs(cov).max())


def test_large_perturbed_obs_enkf_matches_the_kalman_filter_over_several_cycles():
    """A linear model between analyses: 40 000 members track the closed-form Kalman filter."""
    observed, noise_std, n = (0, 2), 1.1, 40_000
    setup = setup_for(observed, noise_std)
    rng = np.random.default_rng(1)
    truth = PRIOR_MEAN.copy()
    mean, cov = PRIOR_MEAN.copy(), PRIOR_COV.copy()
    ensemble = jnp.asarray(rng.multivariate_normal(PRIOR_MEAN, PRIOR_COV, n), jnp.float32)
    key = jax.random.PRNGKey(7)
    for _ in range(4):
        truth = LINEAR_MODEL @ truth
        mean, cov = LINEAR_MODEL @ mean, LINEAR_MODEL @ cov @ LINEAR_MODEL.T
        ensemble = ensemble @ jnp.asarray(LINEAR_MODEL.T, jnp.float32)
        y = truth + noise_std * rng.standard_normal(3)
        mean, cov = kalman_update(mean, cov, y, observed, noise_std)
        key, sub = jax.random.split(key)
        ensemble = perturbed_obs_analysis(ensemble, jnp.asarray(y, jnp.float32), setup, sub)
    e = np.asarray(ensemble, np.float64)
    std = np.sqrt(np.diag(cov))
    # Sampling error of a mean is std / sqrt(N) ~ 0.005 std; of a covariance ~ sqrt(2 / N) ~ 0.7 %.
    np.testing.assert_allclose(e.mean(axis=0), mean, atol=0.03 * std.max())
    np.testing.assert_allclose(np.cov(e.T), cov, atol=0.04 * np.abs(cov).max())


def test_random_rotation_is_orthogonal_and_keeps_the_mean():
    rot = np.asarray(random_rotation(jax.random.PRNGKey(3), 10), np.float64)
    np.testing.assert_allclose(rot @ rot.T, np.eye(10), atol=1e-5)
    np.testing.assert_allclose(rot @ np.ones(10), np.ones(10), atol=1e-5)
    ensemble = jnp.asarray(exact_moment_ensemble(PRIOR_MEAN, PRIOR_COV, 10), jnp.float32)
    inflated = np.asarray(post_process(ensemble, 1.1, True, jax.random.PRNGKey(4)))
    np.testing.assert_allclose(inflated.mean(axis=0), PRIOR_MEAN, atol=1e-4 * 20)
    np.testing.assert_allclose(np.cov(inflated.T), 1.1**2 * PRIOR_COV, rtol=1e-3, atol=1e-3)


def test_cycle_of_a_method_ignoring_the_observations_is_the_free_run():
    setup = core.sakov2012(obs_every=7, n_cycles=40)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    record = core.run_cycle(core.CycledFreeRun(), setup, truth, jax.random.PRNGKey(1))
    free = np.asarray(setup.forward.rollout(setup.x0_mean, 7 * 40))[7::7]
    np.testing.assert_allclose(np.asarray(record.analysis_mean), free, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(record.forecast_mean), free, rtol=1e-5, atol=1e-4)


def test_truth_observations_and_climatology_follow_their_definitions():
    setup = core.sakov2012(obs_every=5, obs_noise=0.5, observed=(0, 2), n_cycles=20)
    truth = core.simulate(setup, jax.random.PRNGKey(2))
    # 100 steps: short enough that float32 round-off has not grown (the model is chaotic).
    run = np.asarray(setup.forward.rollout(_initial_state(setup), 5 * 20), np.float64)
    np.testing.assert_allclose(run[5::5], np.asarray(truth.truth), rtol=1e-4, atol=1e-3)
    # The climatology of every model step (DAPPER's np.cov(xx.T)), recomputed in float64.
    np.testing.assert_allclose(np.asarray(truth.clim_mean), run.mean(axis=0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(truth.clim_cov), np.cov(run.T), rtol=1e-3, atol=1e-2)
    assert np.all(np.asarray(truth.obs)[:, 1] == 0)
    long = core.sakov2012(obs_every=5, obs_noise=0.5, observed=(0, 2), n_cycles=2000)
    long_truth = core.simulate(long, jax.random.PRNGKey(3))
    residual = np.asarray(long_truth.obs - long_truth.truth)[:, [0, 2]]
    assert residual.std() == pytest.approx(0.5, rel=0.05)


def _initial_state(setup):
    """The truth's initial state, drawn as `simulate` draws it (key split, first half)."""
    key_x0, _ = jax.random.split(jax.random.PRNGKey(2))
    return setup.x0_mean + setup.x0_std * jax.random.normal(key_x0, (3,))


def test_stderr_of_an_ar1_series_matches_theory():
    rng = np.random.default_rng(0)
    a, n = 0.8, 200_000
    x = np.empty(n)
    x[0] = 0
    noise = rng.standard_normal(n)
    for i in range(1, n):
        x[i] = a * x[i - 1] + noise[i]
    mean, stderr = mean_with_stderr(x)
    theory = math.sqrt(1 / (1 - a**2) / n * (1 + a) / (1 - a))
    assert abs(mean) < 5 * theory
    assert stderr == pytest.approx(theory, rel=0.1)
    _, iid = mean_with_stderr(noise)
    assert iid == pytest.approx(1 / math.sqrt(n), rel=0.1)


@pytest.mark.slow
@pytest.mark.ci  # ~20 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_short_cycle_of_every_method_ranks_as_dapper():
    """300 cycles of sakov2012: every method beats the climatology, and the ranking is DAPPER's."""
    setup = core.sakov2012(n_cycles=300)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    rmse = {}
    for name in core.CYCLED_METHOD_NAMES:
        record = core.run_cycle(core.build_cycled_method(name), setup, truth, jax.random.PRNGKey(1))
        scores = core.cycle_scores(record, truth, core.default_burn_in(25))
        assert not scores["diverged"]
        rmse[name] = scores["rmse_a"]
    climatology = float(np.sqrt(np.trace(np.asarray(truth.clim_cov)) / 3))
    assert max(rmse.values()) < 0.25 * climatology
    assert rmse["ienks"] < rmse["enkf_sqrt"] < rmse["var3d"] < rmse["oi"]
    assert rmse["ienks"] < 0.45 and rmse["oi"] < 1.5


def test_sliders_do_not_recompile():
    setup = core.sakov2012(n_cycles=50)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    core.run_cycle(core.IEnKS(inflation=1.02, lag=1), setup, truth, key)
    other = core.sakov2012(obs_every=10, obs_noise=0.7, observed=(0,), n_cycles=50)
    other_truth = core.simulate(other, jax.random.PRNGKey(3))
    method = core.IEnKS(inflation=1.1, lag=3)
    with count_compiles() as compiles:
        core.run_cycle(method, other, other_truth, key)
    assert compiles.n == 0


def test_cli_cycle_json(capsys):
    argv = ["cycle", "--method", "enkf_sqrt", "--method", "var3d", "--n-cycles", "120", "--burn-in", "20", "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    for name in ("enkf_sqrt", "var3d"):
        entry = payload["methods"][name]
        for field in ("rmse_a", "rmse_a_stderr", "rmse_f", "spread_a", "ms_per_cycle"):
            assert entry[field] is not None and entry[field] >= 0
    assert payload["setup"]["burn_in"] == 20


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--obs-every", "0"], "--obs-every"),
        (["--obs-noise", "-1"], "--obs-noise"),
        (["--ensemble-size", "1"], "--ensemble-size"),
        (["--inflation", "0.5"], "--inflation"),
        (["--lag", "0"], "--lag"),
        (["--n-cycles", "5"], "--n-cycles"),
        (["--burn-in", "2000"], "--burn-in"),
    ],
)
def test_cli_cycle_refuses_bad_arguments(argv, flag, capsys):
    assert main(["cycle", "--method", "oi", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and "\n" not in err


# DAPPER's documented rmse.a on sakov2012, kept beside the set-up (core/setups/sakov2012.py).
DAPPER_SAKOV2012 = EXPECTED_RMSE_A


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DAPPER_SAKOV2012))
def test_sakov2012_within_ten_percent_of_dapper(name):
    setup = core.sakov2012(n_cycles=5001)
    values = []
    for seed in range(3):
        truth = core.simulate(setup, jax.random.PRNGKey(seed))
        record = core.run_cycle(core.build_cycled_method(name), setup, truth, jax.random.PRNGKey(seed + 100))
        values.append(core.cycle_scores(record, truth, core.default_burn_in(25))["rmse_a"])
    assert np.mean(values) == pytest.approx(DAPPER_SAKOV2012[name], rel=0.10)


@pytest.mark.slow
@pytest.mark.parametrize(("obs_every", "documented"), [(25, 0.22), (5, 0.13)])
def test_bocquet2012_ienks_within_ten_percent_of_dapper(obs_every, documented):
    """DAPPER's mods/Lorenz63/bocquet2012.py: sakov2012 with R = I; iEnKS('Sqrt', N=10, infl=1.02, rot=True)."""
    setup = core.sakov2012(obs_every=obs_every, obs_noise=1.0, n_cycles=5001)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    record = core.run_cycle(core.build_cycled_method("ienks"), setup, truth, jax.random.PRNGKey(1))
    rmse = core.cycle_scores(record, truth, core.default_burn_in(obs_every))["rmse_a"]
    assert rmse == pytest.approx(documented, rel=0.10)


@pytest.mark.parametrize("name", ["var3d", "enkf_sqrt", "ienks"])
def test_between_analyses_ends_at_the_next_forecast(name):
    """The sawtooth: each cycle's starting state carried obs_every steps reaches that cycle's forecast."""
    setup = core.sakov2012(obs_every=10, n_cycles=30)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    record, states = core.run_cycle_with_states(core.build_cycled_method(name), setup, truth, jax.random.PRNGKey(1))
    plain = core.run_cycle(core.build_cycled_method(name), setup, truth, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(np.asarray(record.analysis_mean), np.asarray(plain.analysis_mean))
    mean, spread = core.between_analyses(states, setup, 16)
    np.testing.assert_allclose(np.asarray(mean[:, 10]), np.asarray(record.forecast_mean), atol=1e-4)
    if name != "var3d":
        np.testing.assert_allclose(np.asarray(spread[:, 10]), np.asarray(record.forecast_spread), atol=1e-4)
    assert np.all(np.isnan(np.asarray(mean[:, 11:])))
    # Step 0 of cycle k + 1 is where cycle k left the state: the analysis. The iEnKS's recorded
    # analysis is DAPPER's linearised increment, its state the smoothed ensemble run through the model.
    tolerance = 1e-2 if name == "ienks" else 1e-4
    np.testing.assert_allclose(np.asarray(mean[1:, 0]), np.asarray(record.analysis_mean[:-1]), atol=tolerance)
