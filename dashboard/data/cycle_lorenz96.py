"""The Cycle tab's numbers on Lorenz-96 (sakov2008): drawn at the analysis times, shaped for plotting.

No numerics beyond slicing: the truth, the observations and every method's analyses come from `core`
(`simulate`, `run_cycle`, `cycle_scores`), jitted at module level there. Forty variables make the
Lorenz-63 sawtooth (every model step of x, y, z) the wrong picture; the tab shows instead the analysis
error as a space-time (Hovmöller) map, one chosen variable's series, and rmse_a per cycle. At
sakov2008's spacing (every step) the analysis times are the model steps anyway.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from jax import monitoring

import core
from dashboard.data.cycle_data import (
    CycleSettings,
    MethodRun,
    TruthRun,
    build_method,
    burn_in_cycles,
    keys_of,
    setup_of,
    spec_of,
)

# JAX records this event once per program it lowers (a jit cache miss): a run that compiled is timed again.
LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_lowered = [0]


def _count_lowering(event: str, duration_s: float, **kwargs) -> None:
    if event == LOWERING_EVENT:
        _lowered[0] += 1


monitoring.register_event_duration_secs_listener(_count_lowering)


def analysis_times(settings: CycleSettings) -> np.ndarray:
    """Model time of each analysis: dt x spacing x (1 .. n_cycles), computed alike everywhere."""
    return spec_of("lorenz96").dt * (settings.obs_every * np.arange(1, settings.n_cycles + 1))


def compute_truth_96(settings: CycleSettings) -> TruthRun:
    """The truth and observations at the analysis times (the truth's model noise included)."""
    setup = setup_of(settings)
    truth = core.simulate(setup, keys_of(settings.seed)[0])
    t_obs = analysis_times(settings)
    states = np.asarray(truth.truth)
    return TruthRun(
        t=t_obs,
        truth=states,
        t_obs=t_obs,
        truth_obs=states,
        obs=np.asarray(truth.obs),
        burn_in=burn_in_cycles(settings.obs_every, settings.n_cycles, "lorenz96"),
        core_truth=truth,
    )


def _instant_rms(values: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(values), axis=-1))


def compute_method_96(name: str, settings: CycleSettings, truth: TruthRun) -> MethodRun:
    """Cycle `name` on `truth`; its analyses, per-cycle scores and its time per cycle.

    The time is the run's wall time; a run that compiled (a new shape on this server) is run once more
    and that second run is timed, so the table never shows compile time as ms/cycle.
    """
    setup = setup_of(settings)
    method = build_method(name, settings)
    key = keys_of(settings.seed)[1]
    before = _lowered[0]
    start = time.perf_counter()
    record = jax.block_until_ready(core.run_cycle(method, setup, truth.core_truth, key))
    seconds = time.perf_counter() - start
    if _lowered[0] != before:
        start = time.perf_counter()
        jax.block_until_ready(core.run_cycle(method, setup, truth.core_truth, key))
        seconds = time.perf_counter() - start
    x = truth.truth_obs
    mean = np.asarray(record.analysis_mean)
    return MethodRun(
        name=name,
        t=truth.t_obs,
        mean=mean,
        spread=np.asarray(record.analysis_spread),
        error=_instant_rms(mean - x),
        rmse_f=_instant_rms(np.asarray(record.forecast_mean) - x),
        rmse_a=_instant_rms(mean - x),
        spread_f=_instant_rms(np.asarray(record.forecast_spread)),
        spread_a=_instant_rms(np.asarray(record.analysis_spread)),
        scores=core.cycle_scores(record, truth.core_truth, truth.burn_in),
        ms_per_cycle=1e3 * seconds / settings.n_cycles,
    )


# ---------------------------------------------------------------------------------------------
# The plots' columns: slices of what is computed.


def error_image(run: MethodRun, truth: TruthRun) -> dict:
    """The analysis error (mean - truth) as a Bokeh `image`: variables down, cycles across, and where
    it sits (x: time, y: variable index), with its symmetric colour limit."""
    error = run.mean - truth.truth_obs  # (n_cycles, n_variables)
    step = float(truth.t_obs[1] - truth.t_obs[0]) if len(truth.t_obs) > 1 else 1.0
    limit = float(np.nanpercentile(np.abs(error), 99)) if np.isfinite(error).any() else 1.0
    return {
        "image": [np.ascontiguousarray(error.T)],
        "x": [float(truth.t_obs[0]) - step / 2],
        "y": [-0.5],
        "dw": [step * len(truth.t_obs)],
        "dh": [float(error.shape[1])],
        "limit": max(limit, 1e-3),
    }


def variable_columns(truth: TruthRun, runs: dict[str, MethodRun], variable: int) -> tuple[dict, dict, dict]:
    """(truth, observations, {method: analyses}) of one variable at the analysis times."""
    line = {"t": truth.t_obs, "value": truth.truth_obs[:, variable]}
    points = {"t": truth.t_obs, "value": truth.obs[:, variable]}
    analyses = {name: {"t": run.t, "value": run.mean[:, variable]} for name, run in runs.items()}
    return line, points, analyses


def rmse_columns(run: MethodRun, floor: float) -> dict:
    """rmse_a per cycle (floored for the log axis)."""
    return {"t": run.t, "rmse": np.maximum(run.rmse_a, floor)}
