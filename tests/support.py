"""Helpers shared by the test modules (never import one test module from another).

- `wait_until`: poll a condition until a deadline, failing with what was awaited.
- `count_compiles`: how many programs JAX lowered for compilation inside a block, through the public
  `jax.monitoring` events (no private jit cache sizes).
- `compile_clock`: a scripted `time` for `core.da.evaluation`, on which every read takes 1 ms and every
  real compile `COMPILE_MS`: timings become exact, and a compile shows up where it happened.
- `within_float32_rounding`: two float32 Lorenz-63 runs that should be the same run agree while chaos
  keeps their rounding small: the window and two Lyapunov times after it.
- `replace_cli_work`: every subcommand's work function replaced (a refusal must come before any).
- `known_payload`, `sweep_row`: a sweep's results JSON whose numbers are known (the Generalisation tab's
  tests and the hardening tests read it).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
from jax import monitoring

# ---------------------------------------------------------------------------------------------
# The command line's work

# Where each subcommand's work starts (core/cli/main.py, core/cli/cycle.py): module, function.
CLI_WORK = (
    ("core.nets.training", "fit"),
    ("core.studies.bench", "run_bench"),
    ("core.studies.sweep", "sweep"),
    ("core.studies.reproduce", "reproduce"),
    ("core.studies.reproduce", "evaluate_model"),
    ("core.studies.windows", "long_window_table"),
    ("core.cli.cycle", "run_comparison"),
)


def replace_cli_work(monkeypatch, stand_in: Callable) -> None:
    """Every subcommand's work function becomes `stand_in` (which raises): a refusal must come first."""
    import importlib

    for module, name in CLI_WORK:
        monkeypatch.setattr(importlib.import_module(module), name, stand_in)


# ---------------------------------------------------------------------------------------------
# Waiting


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, *, poll_s: float = 0.05) -> None:
    """Return as soon as `condition()` is true; fail the test naming `what` after `timeout_s`.

    `condition` is called once more at the deadline, so a slow machine that gets there just in time passes.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            assert condition(), f"timed out after {timeout_s:g} s waiting for {what}"
            return
        time.sleep(poll_s)


# ---------------------------------------------------------------------------------------------
# Compiles

# JAX records this event once per program it lowers for compilation (a jit cache miss), whether
# the compiled program then comes from XLA or from the persistent compilation cache.
LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


class CompileCount:
    """The number of programs lowered since the block began: `.n`."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, event: str, duration_s: float, **kwargs) -> None:
        if event == LOWERING_EVENT:
            self.n += 1


@contextlib.contextmanager
def count_compiles() -> Iterator[CompileCount]:
    """`with count_compiles() as compiles: ...`, then `compiles.n`. Counts every compile of the
    process, so build the inputs before the block."""
    count = CompileCount()
    monitoring.register_event_duration_secs_listener(count)
    try:
        yield count
    finally:
        monitoring.unregister_event_duration_listener(count)


COMPILE_MS = 500.0  # what a compile costs on `compile_clock`
READ_MS = 1.0  # what each read of `compile_clock` costs


class CompileClock:
    """Stands for the `time` module: `perf_counter()` moves on by `READ_MS` at every read and by
    `COMPILE_MS` at every program JAX lowers while the clock is running."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def perf_counter(self) -> float:
        self.now_s += READ_MS / 1e3
        return self.now_s

    def __call__(self, event: str, duration_s: float, **kwargs) -> None:
        if event == LOWERING_EVENT:
            self.now_s += COMPILE_MS / 1e3


@contextlib.contextmanager
def compile_clock() -> Iterator[CompileClock]:
    """`with compile_clock() as clock: monkeypatch.setattr(core.da.evaluation, "time", clock); ...`"""
    clock = CompileClock()
    monitoring.register_event_duration_secs_listener(clock)
    try:
        yield clock
    finally:
        monitoring.unregister_event_duration_listener(clock)


# ---------------------------------------------------------------------------------------------
# Chaos and rounding

LORENZ63_LYAPUNOV = 0.906  # Lorenz-63's leading Lyapunov exponent, per model time unit (sigma 10, rho 28, beta 8/3)
HORIZON_LYAPUNOV_TIMES = 2.0  # compared this many Lyapunov times past the window
# Rounding is made at every step and grows faster than on average over short stretches (the local
# exponent varies along the attractor): measured differences stayed below 0.8 of the mean-rate bound;
# a factor 100 keeps the tolerance far below any real disagreement (the window's errors are ~0.1-1).
ROUNDING_MARGIN = 100.0


def within_float32_rounding(a, b, dt: float, window_steps: int) -> None:
    """Assert that two float32 trajectories `(T, 3)` of what should be the same run agree over the window
    and `HORIZON_LYAPUNOV_TIMES` Lyapunov times after it, each state within float32 rounding grown
    at the leading Lyapunov exponent: `margin * eps * max|x| * exp(lambda t)`. (Beyond that, chaos
    turns rounding into any difference up to the attractor's size: compare those runs in float64.)"""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    horizon = window_steps + 1 + math.ceil(HORIZON_LYAPUNOV_TIMES / LORENZ63_LYAPUNOV / dt)
    t = np.arange(min(horizon, len(a))) * dt
    scale = max(np.abs(a).max(), np.abs(b).max())
    tolerance = ROUNDING_MARGIN * np.finfo(np.float32).eps * scale * np.exp(LORENZ63_LYAPUNOV * t)
    difference = np.abs(a[: len(t)] - b[: len(t)]).max(axis=1)
    worst = int(np.argmax(difference / tolerance))
    assert np.all(difference <= tolerance), (
        f"step {worst}: differ by {difference[worst]:.3g}, more than float32 rounding grown by chaos ({tolerance[worst]:.3g})"
    )


# ---------------------------------------------------------------------------------------------
# A sweep's results with known numbers (core/studies/sweep.py's JSON)

PRESET = "attractor"
TESTS = (2, 5, 10)
# (model, train_obs_every, train_observed) -> ratio to 4DVar at each test density in TESTS
KNOWN = {
    ("every2", 2, "xyz"): (1.1, 2.5, 4.0),
    ("every10", 10, "xyz"): (3.25, 1.7, 1.05),
    ("mixed_every", "mixed:2/3/5/10/25", "xyz"): (1.4, 1.3, 1.333),
    ("mixed_components", 5, "xyz/x/y/z"): (6.0, 0.8, 2.0),
}
REFERENCE_RMSE = {2: 0.1, 5: 0.125, 10: 0.16}


def sweep_row(axis, model, ratio, reference, train_every=None, train_observed=None, every=5, noise=0.5, observed="xyz"):
    """One row of the sweep's JSON: `model` at `ratio` times the reference RMSE `reference`."""
    median = ratio * reference
    return {
        "axis": axis,
        "model": model,
        "train_obs_every": train_every,
        "train_obs_noise": None if train_every is None else 0.5,
        "train_observed": train_observed,
        "test_obs_every": every,
        "test_obs_noise": noise,
        "test_observed": observed,
        "rmse_assim_median": median,
        "rmse_assim_p10": 0.6 * median,
        "rmse_assim_p90": 1.7 * median,
        "rmse_forecast_median": 8.0,
        "rmse_forecast_p10": 6.0,
        "rmse_forecast_p90": 10.0,
        "ratio_to_4dvar": ratio,
    }


def known_payload() -> dict:
    """Every model of `KNOWN` and 4DVar along the three axes: density (`TESTS`), noise, components."""
    rows = []
    for j, every in enumerate(TESTS):
        rows.append(sweep_row("density", "strong_4dvar", 1.0, REFERENCE_RMSE[every], every=every))
        for (model, train, observed), ratios in KNOWN.items():
            rows.append(sweep_row("density", model, ratios[j], REFERENCE_RMSE[every], train, observed, every=every))
    for noise in (0.25, 1.0):
        rows.append(sweep_row("noise", "strong_4dvar", 1.0, noise / 4, noise=noise))
        rows += [sweep_row("noise", m, 1.5, noise / 4, t, o, noise=noise) for (m, t, o) in KNOWN]
    for observed in ("xyz", "x"):
        rows.append(sweep_row("components", "strong_4dvar", 1.0, 0.2, observed=observed))
        rows += [sweep_row("components", m, 2.0, 0.2, t, o, observed=observed) for (m, t, o) in KNOWN]
    return {"n_problems": 16, "preset": PRESET, "rows": rows}


def rk4_by_hand(f, x, dt):
    """One classical RK4 step of `f`, written out apart from `core.systems` (the reference it is checked against)."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def refined_strong_4dvar(problem, x0, n_steps=5):
    """Strong 4DVar's minimum polished by plain numpy Gauss-Newton steps on `core.residuals` (float64)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from core.methods.fourdvar import residuals

    x0 = np.asarray(x0, np.float64)
    for _ in range(n_steps):
        r = np.asarray(residuals(jnp.asarray(x0), problem))
        jac = np.asarray(jax.jit(jax.jacfwd(residuals))(jnp.asarray(x0), problem))
        x0 = x0 - np.linalg.lstsq(jac, r, rcond=None)[0]
    return x0
