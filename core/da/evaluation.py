"""One evaluation path: run a method on one problem or a batch, time it warm, score it, summarise.

The CLI (`reproduce`, `evaluate`, `bench`), the sweep and the dashboard all call `evaluate`, so a
figure means the same thing wherever it is shown. Runtimes are medians of repeated calls after a
first one; the first call's extra time (tracing and compiling) is reported apart, never as runtime.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from core.da.method import STATUS_DIRECT, AbstractMethod, Analysis, run, run_batch
from core.da.scoring import predictability_time, scores
from core.setups.problems import Problem


@dataclass(frozen=True)
class Timing:
    """How many calls to time, and for how long at least (the dashboard asks for few)."""

    min_repeats: int = 5
    max_repeats: int = 200
    min_total_s: float = 0.2


QUICK_TIMING = Timing(min_repeats=3, max_repeats=3, min_total_s=0.0)


def time_call(fn: Callable[[], object], timing: Timing = Timing()) -> tuple[object, float, float]:
    """(output, median ms of warmed-up calls, the first call's extra ms). Blocks on every output."""
    start = time.perf_counter()
    output = jax.block_until_ready(fn())
    first_ms = (time.perf_counter() - start) * 1e3
    samples: list[float] = []
    begun = time.perf_counter()
    while len(samples) < timing.max_repeats and (
        len(samples) < timing.min_repeats or time.perf_counter() - begun < timing.min_total_s
    ):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        samples.append((time.perf_counter() - start) * 1e3)
    median_ms = statistics.median(samples)
    return output, median_ms, max(first_ms - median_ms, 0.0)


@dataclass
class Evaluation:
    """A method on one problem or a batch, as plain numpy (a batch keeps its leading axis).

    `runtime_ms` is per problem: the median warm call divided by the batch size.
    """

    trajectory: np.ndarray  # (..., T_total + 1, 3): the window, then the forecast
    analysis: Analysis  # numpy leaves
    rmse_assim: np.ndarray  # (...)
    rmse_forecast: np.ndarray
    rmse_total: np.ndarray
    rmse_per_component: np.ndarray  # (..., 3)
    rmse_trace: np.ndarray  # (..., T_total + 1)
    predictability_time: np.ndarray  # (...): NaN where the forecast keeps its skill to the end
    runtime_ms: float
    compile_ms: float
    n_problems: int
    dt: float

    @property
    def iterative(self) -> bool:
        return bool(np.any(np.asarray(self.analysis.status) != STATUS_DIRECT))

    @property
    def converged_fraction(self) -> float | None:
        """The share of solves that converged to an acceptable minimum (None for direct methods)."""
        return float(np.mean(np.asarray(self.analysis.converged))) if self.iterative else None

    def statistics(self) -> dict:
        """Per-problem scores summarised: {"n_problems", "rmse_assim": {mean, median, p10, p90}, ...,
        "predictability_time": {...}, "converged_fraction"}. A forecast that keeps its skill to the
        end counts as the run's length in the predictability statistics (so the median stays defined)."""
        run_length = self.trajectory.shape[-2] - 1
        out: dict = {"n_problems": self.n_problems}
        for key in ("rmse_assim", "rmse_forecast", "rmse_total"):
            out[key] = summarize(getattr(self, key))
        out["predictability_time"] = summarize(np.nan_to_num(self.predictability_time, nan=run_length * self.dt))
        out["converged_fraction"] = self.converged_fraction
        return out


def evaluate(method: AbstractMethod, problems: Problem, *, timing: Timing | None = Timing()) -> Evaluation:
    """Run `method` on one problem or a batch (vmapped), time it warm, and score it.

    Arguments:
        method: any `AbstractMethod`.
        problems: one `Problem`, or a batch with one leading axis (`generate_problems`).
        timing: how to time it; None runs it once and reports no runtime (NaN).

    Returns:
        An `Evaluation` of plain numpy arrays.
    """
    batched = problems.truth.ndim == 3
    call = (lambda: run_batch(method, problems)) if batched else (lambda: run(method, problems))
    if timing is None:
        output, runtime_ms, compile_ms = jax.block_until_ready(call()), math.nan, math.nan
    else:
        output, runtime_ms, compile_ms = time_call(call, timing)
    trajectory, analysis = jax.device_get(output)
    s = jax.device_get(scores(trajectory, problems))
    n_problems = int(trajectory.shape[0]) if batched else 1
    traces = np.asarray(s["rmse_trace"], dtype=np.float64)
    times = np.array([predictability_time(trace, problems) for trace in traces.reshape(-1, traces.shape[-1])])
    return Evaluation(
        trajectory=np.asarray(trajectory),
        analysis=analysis,
        rmse_assim=np.asarray(s["rmse_assim"]),
        rmse_forecast=np.asarray(s["rmse_forecast"]),
        rmse_total=np.asarray(s["rmse_total"]),
        rmse_per_component=np.asarray(s["rmse_per_component"]),
        rmse_trace=traces,
        predictability_time=times.reshape(traces.shape[:-1]),
        runtime_ms=runtime_ms / n_problems,
        compile_ms=compile_ms,
        n_problems=n_problems,
        dt=problems.dt,
    )


def summarize(values) -> dict[str, float]:
    """mean, median, 10th and 90th percentiles of a sample (NaNs are ignored)."""
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(np.nanmean(v)),
        "median": float(np.nanmedian(v)),
        "p10": float(np.nanpercentile(v, 10)),
        "p90": float(np.nanpercentile(v, 90)),
    }
