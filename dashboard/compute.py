"""The dashboard's one numerical entry point: settings -> problem -> solvers -> trajectories -> scores.

No numerics live in the callbacks: a session turns its sliders into a `Settings` and asks
`solve(settings)` for an `Experiment` (plain numpy arrays and floats, ready to plot). Every solver
called here is jitted at module level in `core`, with everything a slider moves (mask, noise, key,
K) traced, so moving a slider never recompiles after warm-up. The only static argument is the 4DVar
iteration cap, which therefore takes its values from `ITERATION_CAPS` (all warmed by `warmup.py`).

Results are memoised on the settings with `pn.cache` (shared by every session of the process), and
a per-settings lock makes 30 students who ask for the same settings at the same moment cost one
solve.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass

import jax
import numpy as np

import core

from .models import ModelEntry, registry

# The static 4DVar iteration caps the slider offers (each compiles once, at warm-up).
ITERATION_CAPS = (1, 2, 3, 5, 10, 20, 50)
# Method keys, in drawing order, with their display names and their one colour everywhere.
METHODS = ("truth", "observations", "free_run", "strong_4dvar", "fourdvarnet")
METHOD_LABELS = {
    "truth": "truth",
    "observations": "observations",
    "free_run": "free run",
    "strong_4dvar": "strong 4DVar",
    "fourdvarnet": "FourDVarNet",
}
METHOD_COLORS = {
    "truth": "#000000",
    "observations": "#d62728",
    "free_run": "#8c8c8c",
    "strong_4dvar": "#1f5fbf",
    "fourdvarnet": "#7b3fa0",
}
SOLVED_METHODS = ("free_run", "strong_4dvar", "fourdvarnet")
RMSE_FLOOR = 1e-3  # RMSE(t) is drawn on a log axis: clip exact zeros to this floor
COMPONENTS = ("x", "y", "z")


@dataclass(frozen=True)
class Settings:
    """Everything a result depends on; hashable, made of plain Python values."""

    preset: str = "attractor"
    obs_every: int = 5
    obs_noise: float = 0.5
    observed: tuple[int, ...] = (0, 1, 2)
    seed: int = 42
    n_steps: int = 5  # FourDVarNet's K
    max_steps: int = 20  # strong 4DVar's iteration cap
    model: str = ""  # a key of the model registry ("" -> its default)


@dataclass
class MethodOutput:
    trajectory: np.ndarray  # (T_total + 1, 3)
    rmse_trace: np.ndarray  # (T_total + 1,)
    rmse_assim: float
    rmse_forecast: float
    rmse_total: float
    runtime_ms: float
    predictability_time: float
    converged: bool | None = None
    num_steps: int | None = None
    final_cost: float | None = None
    status: str | None = None


@dataclass
class Experiment:
    """One solved problem, as plain numpy: what the plots, the table and the CSV export read."""

    settings: Settings
    model_label: str
    t: np.ndarray  # (T_total + 1,)
    truth: np.ndarray  # (T_total + 1, 3)
    obs_t: np.ndarray  # times of the observed entries, per component (list of arrays)
    obs_values: list
    window_end: float  # t at the end of the assimilation window
    threshold: float  # RMSE above which the forecast has lost its skill
    methods: dict  # name -> MethodOutput
    solve_ms: float = 0.0


_scores = jax.jit(core.scores)


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, (time.perf_counter() - start) * 1e3


def _method_output(trajectory, problem, runtime_ms, analysis=None) -> MethodOutput:
    s = jax.device_get(_scores(trajectory, problem))
    trace = np.asarray(s["rmse_trace"], dtype=np.float64)
    out = MethodOutput(
        trajectory=np.asarray(trajectory, dtype=np.float64),
        rmse_trace=trace,
        rmse_assim=float(s["rmse_assim"]),
        rmse_forecast=float(s["rmse_forecast"]),
        rmse_total=float(s["rmse_total"]),
        runtime_ms=runtime_ms,
        predictability_time=core.predictability_time(trace, problem),
    )
    if analysis is not None:
        analysis = jax.device_get(analysis)
        out.converged = bool(analysis.converged)
        out.num_steps = int(analysis.num_steps)
        out.final_cost = float(analysis.cost)
        out.status = core.describe_status(int(analysis.status))
    return out


def make_problem(settings: Settings) -> core.Problem:
    return core.generate_problem(
        jax.random.PRNGKey(settings.seed),
        preset=settings.preset,
        obs_every=settings.obs_every,
        obs_noise=settings.obs_noise,
        observed=settings.observed,
    )


def run_fourdvarnet(entry: ModelEntry, problem, n_steps: int):
    if entry.architecture == "fourdvarnet_reference":
        return core.fourdvarnet_reference_trajectory(entry.model, problem)
    return core.fourdvarnet_trajectory(entry.model, problem, n_steps)


def run_experiment(settings: Settings) -> Experiment:
    """Generate the problem, run every method (each timed once, warm), score them.

    Raises:
        ValueError: a setting is out of range (core checks every bound again).
    """
    start = time.perf_counter()
    if settings.max_steps not in ITERATION_CAPS:
        raise ValueError(f"max_steps must be one of {', '.join(map(str, ITERATION_CAPS))}; got {settings.max_steps!r}")
    entry = registry.get(settings.model)
    problem = make_problem(settings)
    methods = {}
    traj, ms = _timed(lambda: core.free_run_trajectory(problem))
    methods["free_run"] = _method_output(traj, problem, ms)
    (traj, analysis), ms = _timed(lambda: core.strong_4dvar_trajectory(problem, max_steps=settings.max_steps))
    methods["strong_4dvar"] = _method_output(traj, problem, ms, analysis)
    traj, ms = _timed(lambda: run_fourdvarnet(entry, problem, settings.n_steps))
    methods["fourdvarnet"] = _method_output(traj, problem, ms)

    truth = np.asarray(problem.truth, dtype=np.float64)
    obs, mask = np.asarray(problem.obs), np.asarray(problem.mask)
    t = np.arange(truth.shape[0]) * problem.dt
    obs_t, obs_values = [], []
    for c in range(3):
        seen = mask[:, c] > 0
        obs_t.append(t[: obs.shape[0]][seen])
        obs_values.append(obs[seen, c].astype(np.float64))
    return Experiment(
        settings=settings,
        model_label=entry.label,
        t=t,
        truth=truth,
        obs_t=obs_t,
        obs_values=obs_values,
        window_end=problem.T_assim * problem.dt,
        threshold=core.PREDICTABILITY_FRACTION * core.ATTRACTOR_SIZE,
        methods=methods,
        solve_ms=(time.perf_counter() - start) * 1e3,
    )


# ---------------------------------------------------------------------------------------------
# Memoisation: pn.cache across sessions, plus one lock per settings so identical concurrent
# requests wait for a single solve instead of all solving.

_locks: dict[tuple, threading.Lock] = {}
_locks_guard = threading.Lock()


def _cached(fn):
    try:
        from panel.io.cache import cache
    except ImportError:  # pragma: no cover - panel is a dependency of the dashboard
        import functools

        return functools.lru_cache(maxsize=256)(fn)
    return cache(fn, max_items=256, policy="LRU")


def _solve_key(preset, obs_every, obs_noise, observed, seed, n_steps, max_steps, model, model_version):
    # model_version (the file's mtime) makes a retrained file under the same name a new key.
    settings = Settings(
        preset=preset,
        obs_every=obs_every,
        obs_noise=obs_noise,
        observed=tuple(observed),
        seed=seed,
        n_steps=n_steps,
        max_steps=max_steps,
        model=model,
    )
    return run_experiment(settings)


_solve_cached = _cached(_solve_key)


def solve(settings: Settings) -> Experiment:
    """`run_experiment(settings)`, memoised across sessions (the cached object is shared: read only)."""
    entry_key = registry.resolve(settings.model)
    settings = dataclasses.replace(settings, model=entry_key)
    args = (
        settings.preset,
        int(settings.obs_every),
        float(settings.obs_noise),
        tuple(int(c) for c in settings.observed),
        int(settings.seed),
        int(settings.n_steps),
        int(settings.max_steps),
        entry_key,
        registry.version_of(entry_key),
    )
    with _locks_guard:
        lock = _locks.setdefault(args, threading.Lock())
        if len(_locks) > 4096:
            _locks.clear()
            _locks[args] = lock
    with lock:
        return _solve_cached(*args)


def finite_or_none(value: float | None):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value
