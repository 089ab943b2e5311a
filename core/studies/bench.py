"""The speed budgets (README "Budgets"), measured side by side in one run (`python -m core bench`)."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import optax

from core.cli.window_system import describe_system
from core.da.evaluation import Timing, evaluate, time_call
from core.da.method import analyse
from core.methods.learned import FourDVarNetMethod
from core.methods.variational import Strong4DVar
from core.nets.fourdvarnet_reference import train_step
from core.nets.training import REFERENCE_CONFIG, TrainingConfig, build_model, training_batch_for
from core.setups.problems import generate_problem, generate_problems


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


def _measure(method, problem, problems) -> dict:
    """One method: one problem (analysis + forecast, and the analysis alone), and a batch."""
    single = evaluate(method, problem)
    _, analysis_ms, _ = time_call(lambda: analyse(method, problem))
    batch = evaluate(method, problems, timing=Timing(min_repeats=3, min_total_s=0.5))
    return {
        "ms_per_problem": single.runtime_ms,
        "analysis_ms": analysis_ms,
        f"ms_per_problem_batch{problems.truth.shape[0]}": batch.runtime_ms,
        "compile_s": (single.compile_ms + batch.compile_ms) / 1e3,
    }


def run_bench(
    model=None,
    *,
    batch_size: int = 1024,
    preset: str = "seed",
    key: int = 42,
    window: int = 50,
    system_settings: dict | None = None,
) -> dict:
    """Medians of warmed-up calls; compile time apart. `model`: our FourDVarNet (weights don't
    change its speed; an untrained one is used if None). `window`: the window length in steps.
    `system_settings`: the system and mismatch keywords (Lorenz-96 has the attractor preset only)."""
    system_settings = dict(system_settings or {})
    system = system_settings.get("system", "lorenz63")
    preset = preset if system == "lorenz63" else "attractor"
    results: dict = {
        "device": jax.devices()[0].device_kind,
        "batch_size": batch_size,
        "window": window,
        **describe_system(system_settings),
    }
    # First, before anything else compiles the reference's training step.
    results["train_200_steps_s"] = reference_training_seconds()
    problem = generate_problem(jax.random.PRNGKey(key), preset=preset, T_assim=window, **system_settings)
    problems = generate_problems(
        jax.random.PRNGKey(key + 1), batch_size, preset=preset, T_assim=window, **system_settings
    )
    n_variables = system_settings.get("n_variables")
    model = build_model(TrainingConfig(system=system, n_variables=n_variables)) if model is None else model
    timed = {
        "strong_4dvar_bfgs": Strong4DVar("bfgs"),
        "strong_4dvar": Strong4DVar("gauss-newton"),
        "strong_4dvar_qs": Strong4DVar("quasi-static"),
        "fourdvarnet": FourDVarNetMethod(model),
    }
    for name, method in timed.items():
        results[name] = _measure(method, problem, problems)
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
