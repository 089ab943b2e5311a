"""Cycled data assimilation: analyse, forecast to the next observations, repeat, and score as DAPPER does.

A cycle run is three steps, each jitted once at module level:

    setup = sakov2012(obs_every=25, obs_noise=sqrt(2))       # a twin experiment, as data (core/setups/)
    truth = simulate(setup, key)                              # truth and observations at every analysis time
    record = run_cycle(method, setup, truth, key)             # lax.scan over cycles; one record per cycle
    cycle_scores(record, truth, burn_in)                      # rmse_a, rmse_f, spread_a, ... as DAPPER's

Time runs as DAPPER's `Chronology`: the truth starts at t = 0, observation `k` (k = 0 .. n_cycles - 1)
is at step `(k + 1) * obs_every`, and the first forecast starts from the initial ensemble at t = 0.
Everything a slider moves (`obs_every`, the noise, the observed components, inflation, lag, the
methods' model's rho or F, the truth's model noise) is an array, so a new value reuses the compiled
code; the number of cycles and the ensemble size are shapes.

Model error: the truth runs `setup.truth_model` (plus additive noise of variance `model_noise` per unit
time), every method forecasts with `setup.model`. Without a mismatch the two are the same system.
"""

from __future__ import annotations

import abc
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from core.systems.lorenz import AbstractSystem


class CycleSetup(eqx.Module):
    """A cycled twin experiment: the model, the observations, the initial ensemble, as data.

    Fields:
        model: the system the methods forecast with (Lorenz-63, Lorenz-96): `forward`.
        obs_every: model steps between observations (traced).
        obs_noise: observation-error standard deviation (traced); R = obs_noise^2 I.
        observed: 0/1 mask of the observed variables, `(n,)` (traced).
        x0_mean, x0_std: the initial distribution N(x0_mean, x0_std^2 I) of truth and ensemble.
        clim_shift: a value near the climatological mean, subtracted before the truth's climatology
            sums so that float32 keeps them accurate.
        n_cycles: number of analyses (static: a shape).
        truth_model: the system that makes the truth; None (the default): `model` itself. Its parameters
            (rho, F) are arrays, so a new mismatch reuses the compiled code.
        model_noise: Q, the variance per unit time of the truth's additive model noise (traced; 0: none).
            The truth steps x_{k+1} = M_true(x_k) + sqrt(Q dt) xi_k; the methods' model has no noise.
    """

    model: AbstractSystem
    obs_every: Int[Array, ""]
    obs_noise: Float[Array, ""]
    observed: Float[Array, " n"]
    x0_mean: Float[Array, " n"]
    x0_std: Float[Array, ""]
    clim_shift: Float[Array, " n"]
    n_cycles: int = eqx.field(static=True)
    truth_model: AbstractSystem | None = None
    model_noise: Float[Array, ""] = eqx.field(default=0.0, converter=lambda q: jnp.asarray(q, jnp.float32))

    def __post_init__(self):
        if self.truth_model is None:
            self.truth_model = self.model

    @property
    def forward(self) -> AbstractSystem:
        return self.model

    @property
    def dt(self) -> float:
        return self.model.dt

    @property
    def n_variables(self) -> int:
        return self.x0_mean.shape[-1]

    @property
    def obs_precision_sqrt(self) -> Float[Array, " n"]:
        """R^{-1/2} restricted to the observed components (0 elsewhere): whitens innovations."""
        return self.observed / self.obs_noise


class CycleTruth(eqx.Module):
    """The truth at every analysis time, the observations, and the truth's climatology.

    `clim_mean` and `clim_cov` are taken over every model step of the run, as DAPPER's `OptInterp`
    and `Var3D` take them from the truth (`np.cov(xx.T)`).
    """

    truth: Float[Array, "n_cycles n"]
    obs: Float[Array, "n_cycles n"]
    clim_mean: Float[Array, " n"]
    clim_cov: Float[Array, "n n"]


# The model noise's keys are folded out of the truth's key, so that the keys of x0 and of the observations
# (and so every run without noise) are those of a run without model noise.
_MODEL_NOISE_STREAM = 1


def forecast(forward: AbstractSystem, states: Float[Array, "... n"], n_steps) -> Float[Array, "... n"]:
    """M^n applied to every state (members along leading axes); `n_steps` may be traced."""
    return jax.lax.fori_loop(0, n_steps, lambda _, s: forward.step(s), states)


@eqx.filter_jit
def simulate(setup: CycleSetup, key: PRNGKeyArray) -> CycleTruth:
    """The true run of `setup.truth_model` from x0 ~ N(x0_mean, x0_std^2 I) and noisy observations of it.

    Each model step adds sqrt(Q dt) N(0, I) with Q = `setup.model_noise` (skipped when Q = 0).

    Arguments:
        setup: the experiment.
        key: split into the initial-state key and one observation-noise key per cycle; the model noise
            draws from `fold_in(key, 1)`, one key per cycle and step.

    Returns:
        A `CycleTruth`; unobserved components of `obs` are 0.
    """
    key_x0, key_obs = jax.random.split(key)
    n = setup.n_variables
    x0 = setup.x0_mean + setup.x0_std * jax.random.normal(key_x0, (n,))
    truth_model, shift = setup.truth_model, setup.clim_shift
    noise_std = jnp.sqrt(setup.model_noise * truth_model.dt)

    def one_cycle(state, keys_k):
        key_k, noise_key_k = keys_k

        def noisy(x, j):
            return x + noise_std * jax.random.normal(jax.random.fold_in(noise_key_k, j), x.shape, x.dtype)

        def body(j, carry):
            x, s, ss = carry
            x = truth_model.step(x)
            x = jax.lax.cond(setup.model_noise > 0, noisy, lambda x, _: x, x, j)
            d = x - shift
            return x, s + d, ss + jnp.outer(d, d)

        zero = jnp.zeros(n)
        x, s, ss = jax.lax.fori_loop(0, setup.obs_every, body, (state, zero, jnp.zeros((n, n))))
        y = setup.observed * (x + setup.obs_noise * jax.random.normal(key_k, (n,)))
        return x, (x, y, s, ss)

    keys = jax.random.split(key_obs, setup.n_cycles)
    noise_keys = jax.random.split(jax.random.fold_in(key, _MODEL_NOISE_STREAM), setup.n_cycles)
    _, (truth, obs, sums, squares) = jax.lax.scan(one_cycle, x0, (keys, noise_keys))
    # DAPPER's xx holds the initial state too: K + 1 states in all.
    n_states = setup.n_cycles * setup.obs_every + 1
    d0 = x0 - shift
    total = jnp.sum(sums, axis=0) + d0
    total_sq = jnp.sum(squares, axis=0) + jnp.outer(d0, d0)
    mean_shifted = total / n_states
    cov = (total_sq - n_states * jnp.outer(mean_shifted, mean_shifted)) / (n_states - 1)
    return CycleTruth(truth=truth, obs=obs, clim_mean=mean_shifted + shift, clim_cov=cov)


class CycleRecord(eqx.Module):
    """Per cycle: the forecast (background) and analysis means and spreads at the observation time.

    Spreads are per-component standard deviations: the ensemble's (unbiased), or the square root of
    the diagonal of the covariance a deterministic method assumes.
    """

    forecast_mean: Float[Array, "n_cycles n"]
    forecast_spread: Float[Array, "n_cycles n"]
    analysis_mean: Float[Array, "n_cycles n"]
    analysis_spread: Float[Array, "n_cycles n"]


class AbstractCycledMethod(eqx.Module):
    """A method in the cycle, after DAPPER's `da_method`: its parameters are its fields.

    `init` makes the state before the first forecast (an ensemble, or a mean); `cycle` takes the state
    left by the previous cycle, forecasts it to the observation time, analyses the observation, and
    returns the new state with this cycle's `CycleRecord` entries (means and spreads, `(n,)` each).
    `index` is the cycle number (0 for the first), which lagged methods need to grow their window.
    """

    @abc.abstractmethod
    def init(self, setup: CycleSetup, truth: CycleTruth, key: PRNGKeyArray):
        """The state at t = 0."""

    @abc.abstractmethod
    def cycle(self, state, y: Float[Array, " n"], index, setup: CycleSetup, truth: CycleTruth, key: PRNGKeyArray):
        """One forecast + analysis: `(state, (forecast_mean, forecast_spread, analysis_mean, analysis_spread))`."""


def _scan_cycles(method, setup, truth, key, keep_states: bool):
    key_init, key_cycles = jax.random.split(key)
    initial = method.init(setup, truth, key_init)

    def body(state, inputs):
        y, index, key_k = inputs
        new_state, (fm, fs, am, as_) = method.cycle(state, y, index, setup, truth, key_k)
        return new_state, ((fm, fs, am, as_), state if keep_states else None)

    inputs = (truth.obs, jnp.arange(setup.n_cycles), jax.random.split(key_cycles, setup.n_cycles))
    _, ((fm, fs, am, as_), states) = jax.lax.scan(body, initial, inputs)
    return CycleRecord(forecast_mean=fm, forecast_spread=fs, analysis_mean=am, analysis_spread=as_), states


@eqx.filter_jit
def run_cycle(method: AbstractCycledMethod, setup: CycleSetup, truth: CycleTruth, key: PRNGKeyArray) -> CycleRecord:
    """Run `method` through every cycle of `truth`'s observations (`lax.scan`), jitted.

    Arguments:
        method: an `AbstractCycledMethod`; array fields are traced, static fields compile once per value.
        setup: the experiment (`sakov2012(...)`).
        truth: from `simulate(setup, key)`.
        key: the method's randomness (initial ensemble, perturbed observations, rotations).

    Returns:
        A `CycleRecord` with one row per cycle.
    """
    return _scan_cycles(method, setup, truth, key, False)[0]


@eqx.filter_jit
def run_cycle_with_states(method: AbstractCycledMethod, setup: CycleSetup, truth: CycleTruth, key: PRNGKeyArray):
    """`run_cycle`, also returning the state each cycle started from (for `between_analyses`).

    Returns:
        `(record, states)`: `states[k]` is the state before cycle k's forecast (`(n_cycles, N, n)` for
        an ensemble, `(n_cycles, n)` for a mean). For filters and lag-1 methods it sits at the previous
        observation time (t = 0 for k = 0).
    """
    return _scan_cycles(method, setup, truth, key, True)


@eqx.filter_jit
def between_analyses(states, setup: CycleSetup, max_steps: int):
    """Every model step between analyses: each cycle's starting state carried forward (the sawtooth).

    Exact for filters and lag-1 methods, whose state after an analysis is what the next cycle
    forecasts. (OI ignores it: its background is the climatology.)

    Arguments:
        states: from `run_cycle_with_states`.
        setup: the same set-up.
        max_steps: a static bound on `setup.obs_every` (a shape: pick the slider's maximum).

    Returns:
        `(mean, spread)`, each `(n_cycles, max_steps + 1, n)`: index j of cycle k is the time
        k * obs_every + j steps; entries past `obs_every` are NaN. The spread is NaN for a mean state.
    """

    def one(state):
        def body(s, j):
            s = jnp.where(j < setup.obs_every, setup.forward.step(s), s)
            return s, s

        _, path = jax.lax.scan(body, state, jnp.arange(max_steps))
        return jnp.concatenate([state[None], path], axis=0)

    paths = jax.vmap(one)(states)  # (n_cycles, max_steps + 1, [N,] n)
    if states.ndim == 3:
        mean, spread = jnp.mean(paths, axis=2), jnp.std(paths, axis=2, ddof=1)
    else:
        mean, spread = paths, jnp.full_like(paths, jnp.nan)
    valid = (jnp.arange(max_steps + 1) <= setup.obs_every)[None, :, None]
    return jnp.where(valid, mean, jnp.nan), jnp.where(valid, spread, jnp.nan)


def _instant_rms(values: np.ndarray) -> np.ndarray:
    """DAPPER's `.rms` field summary: the root mean square over the state components, per cycle."""
    return np.sqrt(np.mean(np.square(values), axis=-1))


def mean_with_stderr(series: np.ndarray) -> tuple[float, float]:
    """The mean of a time series and its standard error, corrected for autocorrelation.

    As DAPPER's `tools/series.py:mean_with_conf`: the variance of the mean is var/N times
    1 + 2/N sum_k (N - k) a^k, with `a` the AR(1) coefficient fitted (geometric mean of successive
    ratios) to the first 5 lags of the empirical autocovariance, truncated at its first non-positive lag.
    """
    xx = np.asarray(series, np.float64)
    n = len(xx)
    mu = float(np.mean(xx))
    if not np.isfinite(mu) or n <= 5:
        return mu, float("nan")
    anomalies = xx - mu
    acov = np.array([np.sum(anomalies[: n - i] * anomalies[i:]) / (n - i) for i in range(5)])
    if acov[0] == 0:
        return mu, 0.0
    variance = acov[0]
    first_nonpositive = np.flatnonzero(acov <= 0)
    acov = acov[: first_nonpositive[0]] if first_nonpositive.size else acov
    a = 0.01 if len(acov) == 1 else float(np.exp(np.mean(np.log(acov[1:] / acov[:-1]))))
    correction = 1 + 2 / n * ((n - 1) * a - n * a**2 + a ** (n + 1)) / (1 - a) ** 2
    return mu, float(np.sqrt(variance / n * correction))


def cycle_scores(record: CycleRecord, truth: CycleTruth, burn_in: int) -> dict:
    """DAPPER's time-averaged scores over the cycles after the burn-in.

    Arguments:
        record: from `run_cycle`.
        truth: the same truth.
        burn_in: leading cycles left out (`default_burn_in(obs_every)` is DAPPER's).

    Returns:
        `rmse_a`, `rmse_a_stderr`, `rmse_f`, `rmse_f_stderr`, `spread_a` (DAPPER's `rmv.a`),
        `spread_f`, `spread_error_ratio` (spread_a / rmse_a), `n_scored` and `diverged` (a non-finite
        analysis anywhere).
    """
    x = np.asarray(truth.truth)[burn_in:]
    am, fm = np.asarray(record.analysis_mean)[burn_in:], np.asarray(record.forecast_mean)[burn_in:]
    rmse_a, rmse_a_err = mean_with_stderr(_instant_rms(am - x))
    rmse_f, rmse_f_err = mean_with_stderr(_instant_rms(fm - x))
    spread_a = float(np.mean(_instant_rms(np.asarray(record.analysis_spread)[burn_in:])))
    spread_f = float(np.mean(_instant_rms(np.asarray(record.forecast_spread)[burn_in:])))
    return {
        "rmse_a": rmse_a,
        "rmse_a_stderr": rmse_a_err,
        "rmse_f": rmse_f,
        "rmse_f_stderr": rmse_f_err,
        "spread_a": spread_a,
        "spread_f": spread_f,
        "spread_error_ratio": spread_a / rmse_a if rmse_a > 0 else float("nan"),
        "n_scored": int(len(x)),
        "diverged": bool(not np.all(np.isfinite(np.asarray(record.analysis_mean)))),
    }


def time_cycle(method, setup, truth, key, *, repeats: int = 3) -> tuple[CycleRecord, float, float]:
    """Run the cycle once to compile, then `repeats` more; `(record, median ms per cycle, compile s)`."""
    start = time.perf_counter()
    record = jax.block_until_ready(run_cycle(method, setup, truth, key))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run_cycle(method, setup, truth, key))
        times.append(time.perf_counter() - start)
    run_s = float(np.median(times))
    return record, 1e3 * run_s / setup.n_cycles, max(first - run_s, 0.0)
