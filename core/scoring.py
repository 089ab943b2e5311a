"""Scores: a window or an initial state becomes a whole trajectory, then RMSEs, timings, batch stats.

Scoring follows REFERENCE.md: an x0 is free-run over the whole run; a window is kept and the rest is
forecast from its last state. RMSEs are over window indices 0..T_assim, the forecast T_assim+1..T_total
and everything; rmse_trace[t] is the RMSE over the 3 components at time t.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .lorenz import Lorenz63Forward
from .problems import CLIMATOLOGY_STD, Problem

# The attractor's size: the RMS over components of the climatological standard deviation (~8.5).
ATTRACTOR_SIZE = float(np.sqrt(np.mean(np.square(CLIMATOLOGY_STD))))
# The forecast has lost its skill once RMSE(t) passes this fraction of the attractor's size.
PREDICTABILITY_FRACTION = 0.5


@eqx.filter_jit
def assemble_full_trajectory(
    analysis: Float[Array, "3"] | Float[Array, "T_assim_plus_1 3"],
    problem: Problem,
    forward: Lorenz63Forward | None = None,
) -> Float[Array, "T_total_plus_1 3"]:
    """x0 -> its free run over the whole run; a window -> the window, then a forecast from its end."""
    forward = problem.forward if forward is None else forward
    if analysis.ndim == 1:
        return forward.rollout(analysis, problem.T_total)
    forecast = forward.rollout(analysis[-1], problem.T_total - problem.T_assim)
    return jnp.concatenate([analysis, forecast[1:]], axis=0)


def scores(trajectory: Float[Array, "... T 3"], problem: Problem) -> dict[str, Array]:
    """rmse_assim, rmse_forecast, rmse_total, rmse_per_component, rmse_trace (batched or not)."""
    squared = (trajectory - problem.truth) ** 2
    window = problem.T_assim + 1
    return {
        "rmse_assim": jnp.sqrt(jnp.mean(squared[..., :window, :], axis=(-2, -1))),
        "rmse_forecast": jnp.sqrt(jnp.mean(squared[..., window:, :], axis=(-2, -1))),
        "rmse_total": jnp.sqrt(jnp.mean(squared, axis=(-2, -1))),
        "rmse_per_component": jnp.sqrt(jnp.mean(squared, axis=-2)),
        "rmse_trace": jnp.sqrt(jnp.mean(squared, axis=-1)),
    }


def predictability_time(rmse_trace_values, problem: Problem, fraction: float = PREDICTABILITY_FRACTION) -> float:
    """The first time after the window at which RMSE(t) exceeds `fraction` of the attractor's size.

    Returns `nan` when the forecast keeps its skill to the end of the run.
    """
    trace = np.asarray(rmse_trace_values)
    after = np.nonzero(trace[problem.T_assim + 1 :] > fraction * ATTRACTOR_SIZE)[0]
    if after.size == 0:
        return math.nan
    return float((after[0] + problem.T_assim + 1) * problem.dt)


@dataclass
class MethodResult:
    """One method on one problem: its trajectory, scores and timings (all in plain numpy/floats)."""

    name: str
    mean: np.ndarray  # (T_total + 1, 3): the analysis over the window, then the forecast
    rmse_assim: float
    rmse_forecast: float
    rmse_total: float
    rmse_per_component: np.ndarray
    rmse_trace: np.ndarray
    runtime_ms: float  # median of repeated warmed-up calls of analysis + forecast
    compile_ms: float  # the first call's extra time (tracing and compiling), reported apart
    train_time_s: float | None = None
    predictability_time: float = math.nan
    converged: bool | None = None  # for iterative solvers
    num_steps: int | None = None
    final_cost: float | None = None
    extra: dict = field(default_factory=dict)


def time_call(
    fn: Callable[[], object], *, min_repeats: int = 5, max_repeats: int = 200, min_total_s: float = 0.2
) -> tuple[object, float, float]:
    """(output, median ms of warmed-up calls, first call's extra ms). Blocks on the output each call."""
    start = time.perf_counter()
    output = jax.block_until_ready(fn())
    first_ms = (time.perf_counter() - start) * 1e3
    samples: list[float] = []
    begun = time.perf_counter()
    while len(samples) < max_repeats and (len(samples) < min_repeats or time.perf_counter() - begun < min_total_s):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        samples.append((time.perf_counter() - start) * 1e3)
    median_ms = statistics.median(samples)
    return output, median_ms, max(first_ms - median_ms, 0.0)


def run_method(
    name: str,
    run_fn: Callable[[], object],
    problem: Problem,
    *,
    train_time_s: float | None = None,
    min_repeats: int = 5,
) -> MethodResult:
    """Time `run_fn` (analysis + forecast, no arguments) and score the trajectory it returns.

    `run_fn` returns the whole trajectory `(T_total + 1, 3)`, or a pair `(trajectory, analysis)`
    where `analysis` has `converged`, `num_steps` and `cost` (a 4DVar solve), which are reported.
    """
    output, runtime_ms, compile_ms = time_call(run_fn, min_repeats=min_repeats)
    trajectory, analysis = output if isinstance(output, tuple) else (output, None)
    s = jax.device_get(scores(trajectory, problem))
    result = MethodResult(
        name=name,
        mean=np.asarray(trajectory),
        rmse_assim=float(s["rmse_assim"]),
        rmse_forecast=float(s["rmse_forecast"]),
        rmse_total=float(s["rmse_total"]),
        rmse_per_component=np.asarray(s["rmse_per_component"]),
        rmse_trace=np.asarray(s["rmse_trace"]),
        runtime_ms=runtime_ms,
        compile_ms=compile_ms,
        train_time_s=train_time_s,
        predictability_time=predictability_time(s["rmse_trace"], problem),
    )
    if analysis is not None:
        result.converged = bool(analysis.converged)
        result.num_steps = int(analysis.num_steps)
        result.final_cost = float(analysis.cost)
    return result


def summarize(values) -> dict[str, float]:
    """mean, median, 10th and 90th percentiles of a 1D sample (NaNs are ignored)."""
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(np.nanmean(v)),
        "median": float(np.nanmedian(v)),
        "p10": float(np.nanpercentile(v, 10)),
        "p90": float(np.nanpercentile(v, 90)),
    }


def batch_statistics(trajectories: Float[Array, "B T 3"], problems: Problem) -> dict:
    """Per-problem scores over a batch, summarised: {"n_problems", "rmse_assim": {...}, ...,
    "predictability_time": {...}}. A forecast that keeps its skill to the end counts as the run's
    length in the predictability statistics (so the median stays defined)."""
    s = jax.device_get(scores(trajectories, problems))
    out: dict = {"n_problems": int(trajectories.shape[0])}
    for key in ("rmse_assim", "rmse_forecast", "rmse_total"):
        out[key] = summarize(s[key])
    times = [predictability_time(trace, problems) for trace in s["rmse_trace"]]
    out["predictability_time"] = summarize(np.nan_to_num(times, nan=problems.T_total * problems.dt))
    return out
