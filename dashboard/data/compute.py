"""The dashboard's one numerical entry point: settings -> problem -> solvers -> trajectories -> scores.

No numerics live in the callbacks: a session turns its sliders into a `Settings` and asks
`solve(settings)` for an `Experiment` (plain numpy arrays and floats, ready to plot). Every solver
called here is jitted at module level in `core`, with everything a slider moves (mask, noise, key,
K) traced, so moving a slider never recompiles after warm-up. The only static argument is the 4DVar
iteration cap, which therefore takes its values from `ITERATION_CAPS` (all warmed by `warmup.py`).

Results are memoised on the settings with `memo.shared_cache` (shared by every session of the process), and
a per-settings lock makes 30 students who ask for the same settings at the same moment cost one
solve.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import jax
import numpy as np

import core
from core.systems.lorenz import RHO
from dashboard.data.memo import locked, shared_cache
from dashboard.server.pagefirst import PAGE_WORK
from dashboard.training.models import registry

# The static 4DVar iteration caps the slider offers (each compiles once, at warm-up).
ITERATION_CAPS = (1, 2, 3, 5, 10, 20, 50)
# The window lengths (steps of dt = 0.01: 0.1 to 3 time units) the window slider offers. A length is
# a shape, so each compiles once: `warmup.py` compiles every one of them before the first student.
WINDOWS = (10, 25, 50, 75, 100, 150, 200, 250, 300)
DEFAULT_WINDOW = 50
# What is drawn besides the methods, with its one colour everywhere.
DATA_LABELS = {"truth": "truth", "observations": "observations"}
DATA_COLORS = {"truth": "#000000", "observations": "#d62728"}
SHORT_LABELS = {  # the registry's labels are long; these fit a legend
    "free_run": "free run",
    "strong_4dvar": "strong 4DVar",
    "fourdvarnet": "FourDVarNet",
}
# The methods solved and drawn unless a student asks for others.
DEFAULT_SOLVED = ("free_run", "strong_4dvar", "fourdvarnet")
RMSE_FLOOR = 1e-3  # RMSE(t) is drawn on a log axis: clip exact zeros to this floor
COMPONENTS = ("x", "y", "z")


def solved_methods() -> tuple[str, ...]:
    """Every registered method the dashboard can solve (the reference architecture needs a model
    of its own, which the dashboard selects as "the" FourDVarNet, so it is not listed apart)."""
    return tuple(name for name in core.registered_methods() if name != "fourdvarnet_reference")


def method_labels() -> dict[str, str]:
    entries = core.registered_methods()
    return {**DATA_LABELS, **{m: SHORT_LABELS.get(m, entries[m].label) for m in solved_methods()}}


def method_colors() -> dict[str, str]:
    entries = core.registered_methods()
    return {**DATA_COLORS, **{m: entries[m].colour for m in solved_methods()}}


def drawn_items() -> tuple[str, ...]:
    """What the Explore plots can draw: the data, then every solvable method."""
    return (*DATA_LABELS, *solved_methods())


DEFAULT_SHOWN = (*DATA_LABELS, *DEFAULT_SOLVED)


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
    methods: tuple[str, ...] = DEFAULT_SOLVED  # which registered methods to solve
    window: int = DEFAULT_WINDOW  # the assimilation window in steps (one of WINDOWS); T_total stays 1000
    model_rho: float = RHO  # the methods' rho; the truth keeps RHO = 28 (model error when they differ)
    model_noise: float = 0.0  # the truth's additive model noise, a variance per time unit (the methods' has none)


@dataclass
class MethodOutput:
    trajectory: np.ndarray  # (T_total + 1, 3)
    rmse_trace: np.ndarray  # (T_total + 1,)
    rmse_assim: float
    rmse_forecast: float
    rmse_total: float
    runtime_ms: float  # the median of warm calls (`TIMING`)
    compile_ms: float  # the first call's extra time, shown apart (0 once this process has compiled)
    predictability_time: float
    converged: bool | None = None  # None for direct (non-iterative) methods
    num_steps: int | None = None
    final_cost: float | None = None
    status: str | None = None
    status_code: int | None = None  # core's STATUS_* code behind `status`
    # The posterior standard deviation along the run (T_total + 1, 3): the inverse Gauss-Newton
    # Hessian of a 4DVar analysis carried by the tangent-linear model. Only for a 4DVar solve that
    # converged and passed the chi-square verdict: the Gaussian posterior is calibrated there (0.96
    # of truth points inside +-2 std) and nowhere else (a wrong minimum's band is narrow and far
    # from the truth: 0.31 over all solves of 100-step windows, obs every 8, noise std sqrt 2).
    # None for other methods and for a solve that did not converge (`band_hidden_reason` says why).
    std: np.ndarray | None = None


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


def method_output(evaluation: core.Evaluation) -> MethodOutput:
    """A `core.Evaluation` of one problem as the dashboard reads it."""
    e, analysis = evaluation, evaluation.analysis
    return MethodOutput(
        trajectory=np.asarray(e.trajectory, dtype=np.float64),
        rmse_trace=np.asarray(e.rmse_trace, dtype=np.float64),
        rmse_assim=float(e.rmse_assim),
        rmse_forecast=float(e.rmse_forecast),
        rmse_total=float(e.rmse_total),
        runtime_ms=e.runtime_ms,
        compile_ms=e.compile_ms,
        predictability_time=float(e.predictability_time),
        converged=bool(analysis.converged) if e.iterative else None,
        num_steps=int(analysis.num_steps) if e.iterative else None,
        final_cost=float(analysis.cost) if e.iterative else None,
        status=core.describe_status(int(analysis.status)) if e.iterative else None,
        status_code=int(analysis.status) if e.iterative else None,
    )


def band_hidden_reason(output: MethodOutput, max_steps: int) -> str:
    """Why a 4DVar solve gets no uncertainty band ("" where it gets one): the band is the Gauss-Newton
    posterior at the solve's minimum, which means something only at the right minimum."""
    if output.converged or output.status_code is None:
        return ""
    if output.status_code == core.STATUS_WRONG_MINIMUM:
        return "band hidden: 4DVar stopped at a wrong minimum (its cost is far above what the noise explains)"
    if output.status_code == core.STATUS_MAX_STEPS:
        return f"band hidden: 4DVar hit its cap of {max_steps} steps before converging"
    return "band hidden: 4DVar failed (its steps diverged or were not finite)"


# The table's "time (ms, warm)" is the median of three warm calls after the first (one warm call
# would save ~2 ms of server CPU per move, benchmarks/movebench.py, but a single call under a
# classroom's load is too noisy a figure to show students).
TIMING = core.QUICK_TIMING
_built: dict[tuple, tuple] = {}  # (id(model), max_steps, n_steps, registry) -> (model, built methods)
MAX_BUILT = 64


def built_methods(model, max_steps: int, n_steps: int) -> dict:
    """Every registered method built for this model and these settings, built once and kept (the
    methods are immutable modules; building them all again cost ~0.5 ms a slider move)."""
    # The registry is part of the key: a method registered later (a plug-in) is built too.
    key = (id(model), max_steps, n_steps, tuple((name, id(e)) for name, e in core.registered_methods().items()))
    kept = _built.get(key)
    if kept is not None and kept[0] is model:  # (the model itself is kept, so its id is not reused)
        return kept[1]
    built = core.build_methods(core.MethodContext(model=model, max_steps=max_steps, n_steps=n_steps))
    if len(_built) >= MAX_BUILT:
        _built.clear()
    _built[key] = (model, built)
    return built


def make_problem(settings: Settings) -> core.Problem:
    return core.generate_problem(
        jax.random.PRNGKey(settings.seed),
        preset=settings.preset,
        obs_every=settings.obs_every,
        obs_noise=settings.obs_noise,
        observed=settings.observed,
        T_assim=settings.window,
        model_rho=settings.model_rho,
        model_noise=settings.model_noise,
    )


def run_experiment(settings: Settings) -> Experiment:
    """Generate the problem, run the chosen methods (each timed warm), score them.

    Raises:
        ValueError: a setting is out of range (core checks every bound again).
    """
    start = time.perf_counter()
    if settings.window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(map(str, WINDOWS))} steps; got {settings.window!r}")
    if settings.max_steps not in ITERATION_CAPS:
        raise ValueError(f"max_steps must be one of {', '.join(map(str, ITERATION_CAPS))}; got {settings.max_steps!r}")
    unknown = [m for m in settings.methods if m not in solved_methods()]
    if unknown:
        raise ValueError(f"methods must be among {', '.join(solved_methods())}; got {unknown[0]!r}")
    entry = registry.get(settings.model)
    problem = make_problem(settings)
    built = built_methods(entry.model, settings.max_steps, settings.n_steps)
    methods = {}
    for name in settings.methods:
        output = method_output(core.evaluate(built[name], problem, timing=TIMING))
        if isinstance(built[name], core.Strong4DVar) and output.converged:  # see `MethodOutput.std`
            x0 = jax.numpy.asarray(output.trajectory[0], dtype=jax.numpy.float32)
            output.std = np.asarray(core.posterior_std(x0, problem), dtype=np.float64)
        methods[name] = output

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
# Memoisation across sessions (dashboard/data/memo.py).


# Results computed by an earlier process for these exact arguments (warmup.py's store of the first
# page's result), handed to the first `solve` that asks for them instead of solving again.
_prepared: dict[tuple, Experiment] = {}


def _solve_key(*arguments):
    """`run_experiment` for `solve_arguments(settings)`: the key of the shared cache is the arguments."""
    prepared = _prepared.pop(arguments, None)
    if prepared is not None:
        return prepared
    fields = dict(zip(SOLVE_ARGUMENTS, arguments, strict=True))
    del fields["model_version"]  # (only in the key: a retrained file under the same name is a new result)
    return run_experiment(Settings(**fields))


_solve_cached = shared_cache(_solve_key)


def solve(settings: Settings) -> Experiment:
    """`run_experiment(settings)`, memoised across sessions (the cached object is shared: read only)."""
    args = solve_arguments(settings)
    with PAGE_WORK.busy():  # the classroom warm-up's compiles wait meanwhile (pagefirst.py)
        return locked(args, _solve_cached, *args)


def prepare(settings: Settings, experiment: Experiment) -> None:
    """Hand the next `solve(settings)` a result computed earlier for exactly these arguments."""
    _prepared[solve_arguments(settings)] = experiment


# What a result depends on, in the order of `solve_arguments`: the settings, and the model file's version.
SOLVE_ARGUMENTS = (
    "preset",
    "obs_every",
    "obs_noise",
    "observed",
    "seed",
    "n_steps",
    "max_steps",
    "model",
    "model_version",
    "methods",
    "window",
    "model_rho",
    "model_noise",
)


def solve_arguments(settings: Settings) -> tuple:
    """What a result depends on, as plain values: the settings, the model's file and version."""
    entry_key = registry.resolve(settings.model)
    settings = dataclasses.replace(settings, model=entry_key)
    return (
        settings.preset,
        int(settings.obs_every),
        float(settings.obs_noise),
        tuple(int(c) for c in settings.observed),
        int(settings.seed),
        int(settings.n_steps),
        int(settings.max_steps),
        entry_key,
        registry.version_of(entry_key),
        tuple(str(m) for m in settings.methods),
        int(settings.window),
        float(settings.model_rho),
        float(settings.model_noise),
    )
