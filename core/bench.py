"""DESIGN.md's budget table, measured side by side in one run (`python -m core bench`)."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import optax

from . import methods
from .fourdvar import strong_4dvar
from .fourdvarnet_reference import train_step
from .problems import generate_problem, generate_problems
from .scoring import time_call
from .training import REFERENCE_CONFIG, TrainingConfig, build_model, training_batch_for


def _timed_first(fn):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def reference_training_seconds(steps: int = 200) -> float:
    """The notebook's training (200 full-batch Adam steps on 32 seed problems), compile included."""
    model = build_model(REFERENCE_CONFIG)
    batch = training_batch_for(REFERENCE_CONFIG)
    optimizer = optax.adam(REFERENCE_CONFIG.learning_rate)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    start = time.perf_counter()
    for _ in range(steps):
        model, opt_state, loss = train_step(model, batch, optimizer, opt_state)
    jax.block_until_ready(loss)
    return time.perf_counter() - start


def _measure(single_fn, analysis_fn, batch_fn, batch_size):
    compile_s = _timed_first(single_fn) + _timed_first(analysis_fn)
    _, per_problem_ms, _ = time_call(single_fn)
    _, analysis_ms, _ = time_call(analysis_fn)
    _timed_first(batch_fn)
    _, batch_ms, _ = time_call(batch_fn, min_repeats=3, min_total_s=0.5)
    return {
        "ms_per_problem": per_problem_ms,
        "analysis_ms": analysis_ms,
        f"ms_per_problem_batch{batch_size}": batch_ms / batch_size,
        "compile_s": compile_s,
    }


def run_bench(model=None, *, batch_size: int = 1024, preset: str = "seed", key: int = 42, window: int = 50) -> dict:
    """Medians of warmed-up calls; compile time apart. `model`: our FourDVarNet (weights don't
    change its speed; an untrained one is used if None). `window`: the window length in steps."""
    results: dict = {"device": jax.devices()[0].device_kind, "batch_size": batch_size, "window": window}
    # First, before anything else compiles the reference's training step.
    results["train_200_steps_s"] = reference_training_seconds()
    problem = generate_problem(jax.random.PRNGKey(key), preset=preset, T_assim=window)
    problems = generate_problems(jax.random.PRNGKey(key + 1), batch_size, preset=preset, T_assim=window)
    solvers = (("strong_4dvar_bfgs", "bfgs"), ("strong_4dvar", "gauss-newton"), ("strong_4dvar_qs", "quasi-static"))
    for name, solver in solvers:
        results[name] = _measure(
            lambda solver=solver: methods.strong_4dvar_trajectory(problem, solver),
            lambda solver=solver: strong_4dvar(problem, solver=solver).x0,
            lambda solver=solver: methods.strong_4dvar_trajectories(problems, solver)[0],
            batch_size,
        )
    model = build_model(TrainingConfig()) if model is None else model
    results["fourdvarnet"] = _measure(
        lambda: methods.fourdvarnet_trajectory(model, problem),
        lambda: methods.fourdvarnet_window(model, problem),
        lambda: methods.fourdvarnet_trajectories(model, problems),
        batch_size,
    )
    results["fourdvarnet"]["analysis_speedup_vs_bfgs"] = (
        results["strong_4dvar_bfgs"]["analysis_ms"] / results["fourdvarnet"]["analysis_ms"]
    )
    return results


def format_bench(results: dict) -> str:
    n = results["batch_size"]
    lines = [
        f"device: {results['device']}, window {results.get('window', 50)} steps",
        f"{'method':<20}{'ms/problem':>12}{'analysis ms':>13}{f'ms/problem @{n}':>18}{'compile s':>11}",
    ]
    for name in ("strong_4dvar_bfgs", "strong_4dvar", "strong_4dvar_qs", "fourdvarnet"):
        r = results[name]
        lines.append(
            f"{name:<20}{r['ms_per_problem']:>12.3f}{r['analysis_ms']:>13.3f}"
            f"{r[f'ms_per_problem_batch{n}']:>18.4f}{r['compile_s']:>11.2f}"
        )
    lines.append(
        f"FourDVarNet analysis {results['fourdvarnet']['analysis_speedup_vs_bfgs']:.1f}x cheaper than BFGS 4DVar's"
    )
    lines.append(
        f"reference FourDVarNet training, 200 steps x 32 problems: "
        f"{results['train_200_steps_s']:.2f} s (compile included)"
    )
    return "\n".join(lines)
