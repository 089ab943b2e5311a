"""The reference notebook's helpers, kept apart from the main API (as `optimistix.compat` keeps a
scipy-style shim): `run_method` and `MethodResult` time and score a zero-argument callable, and
`assim_batch` wraps one problem as the notebook's `Batch1D`. New code calls `core.evaluate`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from core.da.evaluation import Timing, time_call
from core.da.scoring import predictability_time, scores
from core.nets.fourdvarnet_reference import Batch1D
from core.setups.problems import Problem


@dataclass
class MethodResult:
    """One method on one problem, as the notebook's `run_method` returned it (numpy and floats)."""

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


def run_method(
    name: str, run_fn: Callable[[], object], problem: Problem, *, train_time_s: float | None = None
) -> MethodResult:
    """Time `run_fn` (analysis + forecast, no arguments, returns `(T_total + 1, 3)`) and score it."""
    trajectory, runtime_ms, compile_ms = time_call(run_fn, Timing())
    s = jax.device_get(scores(trajectory, problem))
    return MethodResult(
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


def assim_batch(problem: Problem) -> Batch1D:
    """A one-problem `Batch1D` (observations, mask, truth over the window), as the notebook uses."""
    return Batch1D(input=problem.obs[None], mask=problem.mask[None], target=problem.truth_window[None])
