"""The Cycle tab's numbers: one cycled run per method, shaped for plotting, memoised across sessions.

No numerics live here beyond slicing: every array comes from `core` (`simulate`, `run_cycle_with_states`,
`between_analyses`, `cycle_scores`), all jitted at module level in core. The sliders move arrays only
(spacing, noise, inflation, lag), so after the first run a new value reuses the compiled programs;
the ensemble size and the number of cycles are shapes, which is why the state offers a few of each.

`truth_run(...)` and `method_run(...)` are memoised with `memo.shared_cache` (shared by every session of
the process), one entry per method, so adding a method to the plot does not recompute the others.

Two systems, as `python -m core cycle --system` runs them (core/setups/cycled.py): Lorenz-63 on
sakov2012 (drawn at every model step, this module) and Lorenz-96 on sakov2008 (drawn at the analysis
times: `cycle_lorenz96.py`). Model error is data on the set-up (the methods' rho or F, the truth's Q),
so a new mismatch reuses the compiled programs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import core
from core.nets.cycle_fourdvarnet import WINDOW_STEPS
from dashboard.data.cycle_setups import (  # noqa: F401 - (the tab's set-ups, read from here by its modules)
    SYSTEMS,
    CycleSettings,
    build_method,
    burn_in_cycles,
    keys_of,
    method_parameters,
    offered_methods,
    setup_of,
    spec_of,
    truth_value,
)
from dashboard.data.memo import locked, shared_cache

DT = 0.01  # sakov2012's model step
MAX_OBS_EVERY = 50  # the spacing slider's maximum: the static bound of `between_analyses`


def label(name: str) -> str:
    """The cycled method's label, from the one registry (core/da/registry.py)."""
    return core.registered_methods("cycled")[name].label


def colour(name: str) -> str:
    """The cycled method's colour, from the one registry; truth is black, observations red."""
    return core.registered_methods("cycled")[name].colour


def lagged(name: str) -> bool:
    """Its state sits `lag - 1` cycles behind the newest analysis (it takes a lag)."""
    return "lag" in core.registered_methods("cycled")[name].defaults


@dataclass
class TruthRun:
    """The truth at every model step, the observations, and the scoring window (numpy, read only)."""

    t: np.ndarray  # (n_cycles * obs_every + 1,) model times
    truth: np.ndarray  # (n_cycles * obs_every + 1, 3)
    t_obs: np.ndarray  # (n_cycles,) analysis times
    truth_obs: np.ndarray  # (n_cycles, 3)
    obs: np.ndarray  # (n_cycles, 3)
    burn_in: int  # leading cycles left out of the scores
    core_truth: core.CycleTruth  # what the methods run on


@dataclass
class MethodRun:
    """One method's run: its sawtooth between analyses, and per-cycle errors and spreads."""

    name: str
    t: np.ndarray  # (n_points,) times of the sawtooth: each cycle's forecast, then its analysis
    mean: np.ndarray  # (n_points, 3)
    spread: np.ndarray  # (n_points, 3); NaN where the method carries no spread between analyses
    error: np.ndarray  # (n_points,) RMS over x, y, z of mean - truth at each model step (NaN before the truth starts)
    rmse_f: np.ndarray  # (n_cycles,) RMS over x, y, z of forecast - truth at each analysis time
    rmse_a: np.ndarray  # (n_cycles,) ... of analysis - truth
    spread_f: np.ndarray  # (n_cycles,) RMS over x, y, z of the forecast spread
    spread_a: np.ndarray  # (n_cycles,)
    scores: dict  # core.cycle_scores: rmse_a, rmse_a_stderr, spread_a, spread_error_ratio, ...
    ms_per_cycle: float = math.nan  # Lorenz-96: the run's wall time per cycle, compiling excluded


def compute_truth(
    obs_every: int, obs_noise: float, n_cycles: int, seed: int, system: str = "lorenz63", model_noise: float = 0.0
) -> TruthRun:
    settings = CycleSettings(
        obs_every=obs_every, obs_noise=obs_noise, n_cycles=n_cycles, seed=seed, system=system, model_noise=model_noise
    )
    if system == "lorenz96":
        from dashboard.data.cycle_lorenz96 import compute_truth_96

        return compute_truth_96(settings)
    setup = setup_of(settings)
    truth = core.simulate(setup, keys_of(seed)[0])
    # Every model step: the truth at each analysis time carried forward by core's own RK4 steps. The
    # initial state is not part of `CycleTruth`, so the drawn truth starts at the first analysis time.
    path, _ = core.between_analyses(truth.truth, setup, MAX_OBS_EVERY)
    path = np.asarray(path)[:-1, :obs_every]  # (n_cycles - 1, obs_every, 3); the last runs past the end
    # Times are DT times a whole number of steps, computed alike everywhere so that they compare equal.
    t_obs = DT * (obs_every * np.arange(1, n_cycles + 1))
    truth_obs = np.asarray(truth.truth)
    states = np.concatenate([path.reshape(-1, 3), truth_obs[-1:]])
    t = DT * (obs_every + np.arange(len(states)))
    return TruthRun(
        t=t,
        truth=states,
        t_obs=t_obs,
        truth_obs=truth_obs,
        obs=np.asarray(truth.obs),
        burn_in=burn_in_cycles(obs_every, n_cycles),
        core_truth=truth,
    )


def _instant_rms(values: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(values), axis=-1))


def _step_error(t: np.ndarray, mean: np.ndarray, truth: TruthRun) -> np.ndarray:
    """RMS over x, y, z of `mean - truth` at the model steps `t` (NaN before the drawn truth starts)."""
    index = np.rint((t - truth.t[0]) / DT).astype(int)
    inside = (index >= 0) & (index < len(truth.t))
    error = np.full(len(t), np.nan)
    error[inside] = _instant_rms(mean[inside] - truth.truth[index[inside]])
    return error


def compute_method(name: str, settings: CycleSettings, truth: TruthRun) -> MethodRun:
    """Cycle `name` on `truth` and shape its sawtooth (every model step between analyses)."""
    if settings.system == "lorenz96":
        from dashboard.data.cycle_lorenz96 import compute_method_96

        return compute_method_96(name, settings, truth)
    setup = setup_of(settings)
    method = build_method(name, settings)
    record, states = core.run_cycle_with_states(method, setup, truth.core_truth, keys_of(settings.seed)[1])
    every, n = settings.obs_every, settings.n_cycles
    if name == "oi":  # OI's background is the climatology, not its last analysis: only its analyses
        t = truth.t_obs
        mean, spread = np.asarray(record.analysis_mean), np.asarray(record.analysis_spread)
    else:
        # The cycled FourDVarNet carries (mean, spread): its sawtooth is the mean's forecast.
        mean_states = states[0] if isinstance(states, tuple) else states
        path_mean, path_spread = core.between_analyses(mean_states, setup, MAX_OBS_EVERY)
        # A lagged method's state before cycle k sits at cycle max(0, k - lag + 1)'s start: its first
        # lag - 1 states are all at t = 0 (the window still growing), so they are left out.
        lag = settings.lag if lagged(name) else 1
        first = lag - 1
        path_mean = np.asarray(path_mean)[first:, : every + 1]
        path_spread = np.asarray(path_spread)[first:, : every + 1]
        steps = every * np.arange(n - first)[:, None] + np.arange(every + 1)[None, :]
        t = DT * steps.reshape(-1)
        mean, spread = path_mean.reshape(-1, 3), path_spread.reshape(-1, 3)
    x = truth.truth_obs
    return MethodRun(
        name=name,
        t=t,
        mean=mean,
        spread=spread,
        error=_step_error(t, mean, truth),
        rmse_f=_instant_rms(np.asarray(record.forecast_mean) - x),
        rmse_a=_instant_rms(np.asarray(record.analysis_mean) - x),
        spread_f=_instant_rms(np.asarray(record.forecast_spread)),
        spread_a=_instant_rms(np.asarray(record.analysis_spread)),
        scores=core.cycle_scores(record, truth.core_truth, truth.burn_in),
    )


# ---------------------------------------------------------------------------------------------
# Memoisation across sessions (`memo.shared_cache`), one lock per key so that a class asking for the same
# settings at once costs one run.

_truth_cached = shared_cache(compute_truth, max_items=64)


def _method_key(name, *values):
    settings = CycleSettings(*values)
    return compute_method(name, settings, truth_run(settings))


_method_cached = shared_cache(_method_key, max_items=64)


def _normalise(name: str, s: CycleSettings) -> tuple:
    """The cache key: a setting a method does not use is left out, so moving it costs that method nothing."""
    defaults = core.registered_methods("cycled")[name].defaults
    ensemble = "ensemble_size" in defaults
    value = truth_value(s.system) if s.model_value is None else float(s.model_value)
    return (
        name,
        int(s.obs_every),
        float(s.obs_noise),
        int(s.ensemble_size) if ensemble else 0,
        float(s.inflation) if ensemble else 1.0,
        int(s.lag) if lagged(name) else 1,
        int(s.n_cycles),
        int(s.seed),
        str(s.system),
        float(s.localisation_radius) if "localisation_radius" in defaults else 4.0,
        None if value == truth_value(s.system) else value,
        float(s.model_noise),
        float(s.model_error_q) if "model_error_q" in defaults else 0.1,
    )


def truth_run(settings: CycleSettings) -> TruthRun:
    """The truth and observations for `settings`, memoised across sessions (read only)."""
    args = (
        int(settings.obs_every),
        float(settings.obs_noise),
        int(settings.n_cycles),
        int(settings.seed),
        str(settings.system),
        float(settings.model_noise),
    )
    return locked(("truth", *args), _truth_cached, *args)


def method_run(name: str, settings: CycleSettings) -> MethodRun:
    """One method's run for `settings`, memoised across sessions (read only)."""
    args = _normalise(name, settings)
    return locked(args, _method_cached, *args)


def run_all(methods, settings: CycleSettings) -> tuple[TruthRun, dict[str, MethodRun]]:
    """The truth and every chosen method's run.

    Raises:
        ValueError: a method the system does not offer, or the cycled FourDVarNet at a spacing it was not
            trained on.
    """
    spec_of(settings.system)
    offered = offered_methods(settings.system)
    for name in methods:
        if name not in offered:
            raise ValueError(
                f"methods: {name!r} is not offered for {settings.system}; choose among {', '.join(offered)}"
            )
    if "fourdvarnet" in methods and settings.obs_every != WINDOW_STEPS:
        raise ValueError(
            f"the cycled FourDVarNet was trained on observations every {WINDOW_STEPS} steps; "
            f"set 'Observe every N steps' to {WINDOW_STEPS} or untick it (got {settings.obs_every})"
        )
    return truth_run(settings), {name: method_run(name, settings) for name in methods}


def warm(settings: CycleSettings = CycleSettings(), methods=core.CYCLED_METHOD_NAMES) -> None:
    """Compile every method at the default shapes (ensemble size, number of cycles) once per process."""
    run_all(methods, settings)


# ---------------------------------------------------------------------------------------------
# The animation's window: slices of the data already computed (the Player never recomputes).

WINDOW_TIME = 5.0  # model time units shown in the animated window (20 cycles at obs every 25)
COMPONENTS = ("x", "y", "z")


def window_bounds(truth: TruthRun, index: int) -> tuple[float, float]:
    """(start, end) times of the window that ends at analysis `index` (clipped to the run)."""
    index = int(np.clip(index, 0, len(truth.t_obs) - 1))
    end = float(truth.t_obs[index])
    return max(0.0, end - WINDOW_TIME), end


def window_cycles(truth: TruthRun) -> int:
    """How many cycles the window spans."""
    return int(math.ceil(WINDOW_TIME / float(truth.t_obs[0]) - 1e-9))


def value_ranges(truth: TruthRun) -> list[tuple[float, float]]:
    """Fixed y ranges for x, y, z: the whole truth run, with a margin."""
    low, high = truth.truth.min(axis=0), truth.truth.max(axis=0)
    margin = 0.12 * (high - low)
    return [(float(a - m), float(b + m)) for a, b, m in zip(low, high, margin, strict=True)]


def _between(t: np.ndarray, start: float, end: float) -> slice:
    eps = 0.25 * DT  # times are multiples of DT up to float rounding
    return slice(int(np.searchsorted(t, start - eps, "left")), int(np.searchsorted(t, end + eps, "right")))


def truth_window(truth: TruthRun, start: float, end: float) -> tuple[dict, dict]:
    """Columns of the truth (every step) and of the observations in [start, end]."""
    s, o = _between(truth.t, start, end), _between(truth.t_obs, start, end)
    line = {"t": truth.t[s], **{c: truth.truth[s, i] for i, c in enumerate(COMPONENTS)}}
    points = {"t": truth.t_obs[o], **{c: truth.obs[o, i] for i, c in enumerate(COMPONENTS)}}
    return line, points


def method_window(run: MethodRun, start: float, end: float) -> dict:
    """Columns of one method's sawtooth in [start, end]: mean, mean -+ spread per component, error."""
    s = _between(run.t, start, end)
    columns = {"t": run.t[s], "error": run.error[s]}
    for i, c in enumerate(COMPONENTS):
        mean, spread = run.mean[s, i], run.spread[s, i]
        columns.update({c: mean, f"{c}_lo": mean - spread, f"{c}_hi": mean + spread})
    return columns


def error_columns(run: MethodRun, truth: TruthRun, floor: float) -> dict:
    """The whole run's error and spread at the analysis times, forecast then analysis at each (a sawtooth)."""
    t = np.repeat(truth.t_obs, 2)
    error = np.stack([run.rmse_f, run.rmse_a], axis=1).reshape(-1)
    spread = np.stack([run.spread_f, run.spread_a], axis=1).reshape(-1)
    return {"t": t, "error": np.maximum(error, floor), "spread": np.maximum(spread, floor)}
