"""Explore on Lorenz-96: settings -> the 4DVarNet authors' window problem -> the methods -> arrays to plot.

No Panel here. The set-up is core's (`core/setups/lorenz96_windows.py`: 40 variables, F = 8, dt = 0.05,
200-step windows, a random 50% of the variables observed every 4 steps, noise variance 2); a student moves
the methods' forcing (model error), the density, the observed share, the noise, the window and the seed.
Everything but the window is traced (`generate_problem` takes them as arrays), so a new seed, noise,
share, density or forcing reuses the compiled solvers; each window length compiles once.

The methods are the ones `core/studies/lorenz96_windows.py` found to run there: the free run, strong 4DVar
by quasi-static window growth (Gauss-Newton from the background fails at its first step on 200-step
windows), weak 4DVar (a regularising q = 0.1, capped at `WEAK_STEPS` Gauss-Newton steps without the
quasi-static stages so that a slider move stays near a second; the study's 300-step run is slower by 100x
and does not converge either) and the shipped FourDVarNet, shown only for the set-up it was trained on.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import jax
import numpy as np

import core
from core._validate import check_range
from core.da.method import STATUS_DIRECT, run
from core.methods.variational import Strong4DVar
from core.methods.weak_variational import Weak4DVar
from core.nets.model_files import load_model
from core.setups.lorenz96_windows import AUTHORS_SETUP
from core.studies.lorenz96_windows import MODEL_PATH, WEAK_Q, FreeRun
from core.studies.windows import SCORE_MARGIN
from dashboard.data.memo import locked, shared_cache
from dashboard.server.pagefirst import PAGE_WORK

N_VARIABLES = AUTHORS_SETUP["n_variables"]
DT = AUTHORS_SETUP["dt"]
TRUTH_FORCING = AUTHORS_SETUP["forcing"]
# The window lengths offered (a length is a shape: each compiles once); 200 is the authors' set-up.
WINDOWS_96 = (50, 100, 200)
DEFAULT_NOISE_VARIANCE = 2.0  # the authors give the variance
WEAK_STEPS = 10  # ~0.4 s a move on 200-step windows (2 cores, idle); 20 took 3 s under load
STRONG_SOLVER = "quasi-static"
METHODS_96 = ("free_run", "strong_4dvar", "weak_4dvar", "fourdvarnet")
LABELS_96 = {
    "free_run": "free run",
    "strong_4dvar": "strong 4DVar (quasi-static)",
    "weak_4dvar": f"weak 4DVar (q {WEAK_Q:g}, {WEAK_STEPS} steps)",
    "fourdvarnet": "FourDVarNet (shipped, L96)",
}


# A solver's status in a few words (the table is narrow; core's own words are a sentence).
SHORT_STATUS = {
    core.STATUS_CONVERGED: "converged",
    core.STATUS_WRONG_MINIMUM: "wrong minimum (cost far above the noise's)",
    core.STATUS_MAX_STEPS: "hit its step cap",
}


@dataclass(frozen=True)
class Settings96:
    """Everything a Lorenz-96 result depends on; hashable. The defaults are the authors' set-up."""

    obs_every: int = AUTHORS_SETUP["obs_every"]
    observed_share: float = AUTHORS_SETUP["observed_share"]
    noise_variance: float = DEFAULT_NOISE_VARIANCE
    window: int = AUTHORS_SETUP["T_assim"]
    model_forcing: float = TRUTH_FORCING
    seed: int = 42


@dataclass
class MethodOutput96:
    trajectory: np.ndarray  # (T + 1, n)
    rmse_trace: np.ndarray  # (T + 1,)
    rmse_window: float  # over the whole window, all variables
    rmse_scored: float  # over steps SCORE_MARGIN..T-SCORE_MARGIN, as core's study scores a window
    num_steps: int | None
    status: str | None  # None for a direct method
    converged: bool | None
    runtime_ms: float  # one warm call (`_timed_run`: a compile is never counted)


@dataclass
class Experiment96:
    """One solved Lorenz-96 window, as plain numpy: what the maps, the curves and the table read."""

    settings: Settings96
    t: np.ndarray  # (T + 1,)
    truth: np.ndarray  # (T + 1, n)
    obs: np.ndarray  # (T + 1, n), NaN where not observed
    methods: dict  # name -> MethodOutput96
    notes: dict = field(default_factory=dict)  # name -> why it is not shown
    solve_ms: float = 0.0


def fourdvarnet_mismatch(settings: Settings96) -> str:
    """Why the shipped FourDVarNet does not apply to these settings ("" when it does): it was trained on
    the authors' observation set-up only, and its result elsewhere would be a wrong model's."""
    trained = Settings96()
    differ = [
        f"{what} {getattr(settings, name):g} (trained: {getattr(trained, name):g})"
        for name, what in (
            ("obs_every", "observed every"),
            ("observed_share", "observed share"),
            ("noise_variance", "noise variance"),
            ("window", "window"),
        )
        if getattr(settings, name) != getattr(trained, name)
    ]
    if not differ:
        return ""
    return "FourDVarNet not shown: the shipped model was trained on another set-up; here " + ", ".join(differ)


def check_settings(settings: Settings96) -> None:
    """Raise `ValueError` naming the setting and its range (before any work)."""
    if settings.window not in WINDOWS_96:
        raise ValueError(f"window must be one of {', '.join(map(str, WINDOWS_96))} steps; got {settings.window!r}")
    check_range("obs_every", settings.obs_every, 1, settings.window, integer=True)
    check_range("observed_share", settings.observed_share, 0.05, 1.0)
    check_range("noise_variance", settings.noise_variance, 0.01, 25.0)
    check_range("model_forcing", settings.model_forcing, 0.0, 20.0)
    check_range("seed", settings.seed, 0, 2**31 - 1, integer=True)


def make_problem96(settings: Settings96) -> core.Problem:
    return core.generate_problem(
        jax.random.PRNGKey(settings.seed),
        system="lorenz96",
        dt=DT,
        n_variables=N_VARIABLES,
        forcing=TRUTH_FORCING,
        T_assim=settings.window,
        T_total=settings.window,
        obs_every=settings.obs_every,
        obs_noise=math.sqrt(settings.noise_variance),  # sqrt(2) is the set-up's own float
        observed_share=settings.observed_share,
        model_forcing=settings.model_forcing,
    )


@functools.cache
def shipped_model():
    """The shipped Lorenz-96 FourDVarNet (None when its file is missing)."""
    return load_model(MODEL_PATH, architecture="fourdvarnet")[0] if MODEL_PATH.exists() else None


@functools.cache
def methods_96() -> dict:
    """name -> method (built once: the methods are immutable modules)."""
    from core.methods.learned import FourDVarNetMethod

    built = {
        "free_run": FreeRun(),
        "strong_4dvar": Strong4DVar(STRONG_SOLVER),
        "weak_4dvar": Weak4DVar(WEAK_Q, WEAK_STEPS, quasi_static=False),
    }
    model = shipped_model()
    if model is not None:
        built["fourdvarnet"] = FourDVarNetMethod(model)
    return built


def method_output96(trajectory, analysis, truth: np.ndarray, window: int, runtime_ms: float) -> MethodOutput96:
    trajectory = np.asarray(trajectory, dtype=np.float64)
    error = trajectory - truth
    status_code = int(analysis.status)
    direct = status_code == STATUS_DIRECT
    return MethodOutput96(
        trajectory=trajectory,
        rmse_trace=np.sqrt(np.mean(error**2, axis=1)),
        rmse_window=float(np.sqrt(np.mean(error**2))),
        rmse_scored=float(np.sqrt(np.mean(error[SCORE_MARGIN : window - SCORE_MARGIN + 1] ** 2))),
        num_steps=None if direct else int(analysis.num_steps),
        status=None if direct else SHORT_STATUS.get(status_code, "failed"),
        converged=None if direct else status_code == core.STATUS_CONVERGED,
        runtime_ms=runtime_ms,
    )


_compiled: set[tuple[str, int]] = set()  # (method, window) this process has run: compiled (all else is traced)


def _timed_run(name: str, method, problem: core.Problem, window: int):
    """(trajectory, analysis, ms of a warm call). Only a method's first run at a window length compiles
    (everything else is traced): that run is made again and the second one timed, so the table never
    shows a compile as a runtime; every later run is timed as it is."""
    began = time.perf_counter()
    trajectory, analysis = jax.block_until_ready(run(method, problem))
    if (name, window) not in _compiled:
        _compiled.add((name, window))
        began = time.perf_counter()
        trajectory, analysis = jax.block_until_ready(run(method, problem))
    return trajectory, analysis, (time.perf_counter() - began) * 1e3


def run_experiment96(settings: Settings96, methods: tuple[str, ...] = METHODS_96) -> Experiment96:
    """Generate the window problem and run `methods` on it (each timed warm: `_timed_run`)."""
    start = time.perf_counter()
    check_settings(settings)
    problem = make_problem96(settings)
    truth = np.asarray(problem.truth, dtype=np.float64)
    built, notes, outputs = methods_96(), {}, {}
    for name in methods:
        if name == "fourdvarnet" and name not in built:
            notes[name] = f"FourDVarNet not shown: no model file at {MODEL_PATH.name}"
            continue
        if name == "fourdvarnet" and fourdvarnet_mismatch(settings):
            notes[name] = fourdvarnet_mismatch(settings)
            continue
        trajectory, analysis, ms = _timed_run(name, built[name], problem, settings.window)
        outputs[name] = method_output96(trajectory, jax.device_get(analysis), truth, settings.window, ms)
    mask = np.asarray(problem.mask) > 0
    obs = np.where(mask, np.asarray(problem.obs, dtype=np.float64), np.nan)
    return Experiment96(
        settings=settings,
        t=np.arange(truth.shape[0]) * DT,
        truth=truth,
        obs=obs,
        methods=outputs,
        notes=notes,
        solve_ms=(time.perf_counter() - start) * 1e3,
    )


_solve_cached = shared_cache(run_experiment96, max_items=64)


def solve96(settings: Settings96) -> Experiment96:
    """`run_experiment96(settings)`, memoised across sessions (the cached object is shared: read only)."""
    check_settings(settings)
    with PAGE_WORK.busy():
        return locked(("lorenz96", settings), _solve_cached, settings)
