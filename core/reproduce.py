"""The reference notebook's table (one key, and statistics over many test problems), and the
evaluation of a saved model against strong 4DVar on the same problems."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import numpy as np

from . import methods
from .problems import generate_problem, generate_problems
from .scoring import batch_statistics, run_method
from .training import (
    REFERENCE_CONFIG,
    TrainingConfig,
    config_of,
    fit,
    load_model,
    shipped_model_path,
)


def test_problems(key: int, n_problems: int, **settings):
    """The test set of `reproduce` and `evaluate`: disjoint from the single-key problem and from
    training keys (a fold of the key)."""
    return generate_problems(jax.random.fold_in(jax.random.PRNGKey(key), 7), n_problems, **settings)


def our_model(preset: str, settings: dict, retrain: bool, log: Callable[[str], None]):
    """The shipped model for `preset` unless `retrain`; else train one on the test settings."""
    path = shipped_model_path(preset)
    if path.exists() and not retrain:
        model, header = load_model(path, architecture="fourdvarnet")
        log(f"loaded our FourDVarNet from {path} (trained on {config_of(header).label()}); --retrain trains it afresh")
        return model, header["info"].get("train_time_s")
    config = TrainingConfig(
        preset=preset,
        obs_every=(settings["obs_every"],),
        obs_noise=(settings["obs_noise"],),
        observed=(tuple(settings["observed"]),),
        T_assim=(settings.get("T_assim", 50),),
    )
    log(f"training our FourDVarNet on {config.label()} ({config.steps} steps)...")
    model, report = fit(config)
    return model, report.train_time_s


def reproduce(
    *,
    preset="seed",
    key=42,
    obs_every=5,
    obs_noise=0.5,
    observed=(0, 1, 2),
    n_problems=0,
    retrain=False,
    T_assim=50,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Every method on the problem of `key`; with `n_problems`, also statistics over a test set.
    `T_assim` is the window length (the reference FourDVarNet is built for it: n_time = T_assim + 1)."""
    settings = dict(preset=preset, obs_every=obs_every, obs_noise=obs_noise, observed=observed, T_assim=T_assim)
    problem = generate_problem(jax.random.PRNGKey(key), **settings)

    reference_config = TrainingConfig(
        **{
            **REFERENCE_CONFIG.to_json(),
            "preset": preset,
            "obs_every": (obs_every,),
            "obs_noise": (obs_noise,),
            "observed": (tuple(observed),),
            "T_assim": (T_assim,),
            "hyperparameters": {**REFERENCE_CONFIG.hyperparameters, "n_time": T_assim + 1},
        }
    )
    log("training the reference FourDVarNet as the notebook does (200 steps, 32 problems)...")
    reference_model, reference_report = fit(reference_config)
    model, train_time_s = our_model(preset, settings, retrain, log)

    runs = {
        "free_run": (lambda: methods.free_run_trajectory(problem), None),
        "oi": (lambda: methods.oi_trajectory(problem), None),
        "strong_4dvar": (lambda: methods.strong_4dvar_trajectory(problem), None),
        "strong_4dvar_bfgs": (lambda: methods.strong_4dvar_trajectory(problem, "bfgs"), None),
        "fourdvarnet_reference": (
            lambda: methods.fourdvarnet_reference_trajectory(reference_model, problem),
            reference_report.train_time_s,
        ),
        "fourdvarnet": (lambda: methods.fourdvarnet_trajectory(model, problem), train_time_s),
    }
    results = {}
    for name, (run_fn, train_time) in runs.items():
        r = run_method(name, run_fn, problem, train_time_s=train_time)
        results[name] = {
            "rmse_assim": r.rmse_assim,
            "rmse_forecast": r.rmse_forecast,
            "rmse_total": r.rmse_total,
            "runtime_ms": r.runtime_ms,
            "compile_ms": r.compile_ms,
            "train_time_s": r.train_time_s,
            "converged": r.converged,
            "num_steps": r.num_steps,
            "predictability_time": None if math.isnan(r.predictability_time) else r.predictability_time,
        }
    reference_final_mse = reference_report.losses[-1] if reference_report.losses else None
    results["fourdvarnet_reference"]["final_train_mse"] = reference_final_mse

    if n_problems:
        problems = test_problems(key, n_problems, **settings)
        batch_runs = {
            "free_run": lambda: methods.free_run_trajectories(problems),
            "oi": lambda: methods.oi_trajectories(problems),
            "strong_4dvar": lambda: methods.strong_4dvar_trajectories(problems),
            "strong_4dvar_bfgs": lambda: methods.strong_4dvar_trajectories(problems, "bfgs"),
            "fourdvarnet_reference": lambda: methods.fourdvarnet_reference_trajectories(reference_model, problems),
            "fourdvarnet": lambda: methods.fourdvarnet_trajectories(model, problems),
        }
        for name, run_fn in batch_runs.items():
            output = run_fn()
            trajectories, analysis = output if isinstance(output, tuple) else (output, None)
            stats = batch_statistics(trajectories, problems)
            if analysis is not None:
                stats["converged_fraction"] = float(np.mean(np.asarray(analysis.converged)))
            results[name]["batch"] = stats
    return {
        "preset": preset,
        "key": key,
        "obs_every": obs_every,
        "obs_noise": obs_noise,
        "observed": "".join("xyz"[c] for c in observed),
        "window": T_assim,
        "methods": results,
    }


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:.{digits}f}"


def format_table(payload: dict) -> str:
    lines = [
        f"preset {payload['preset']}, key {payload['key']}, obs every {payload['obs_every']}, "
        f"noise {payload['obs_noise']}, observed {payload['observed']}",
        f"{'method':<24}{'rmse_assim':>11}{'rmse_fcst':>11}{'rmse_total':>11}{'runtime ms':>12}"
        f"{'train s':>9}{'converged':>11}",
    ]
    for name, r in payload["methods"].items():
        lines.append(
            f"{name:<24}{_fmt(r['rmse_assim']):>11}{_fmt(r['rmse_forecast']):>11}"
            f"{_fmt(r['rmse_total']):>11}{_fmt(r['runtime_ms']):>12}{_fmt(r['train_time_s'], 1):>9}"
            f"{_fmt(r['converged']) if r['converged'] is not None else '-':>11}"
        )
    batches = {n: r["batch"] for n, r in payload["methods"].items() if "batch" in r}
    if batches:
        n = next(iter(batches.values()))["n_problems"]
        lines += [
            "",
            f"over {n} test problems, median [p10, p90] of: rmse_assim, rmse_forecast, predictability time",
        ]
        for name, b in batches.items():
            a, f, p = b["rmse_assim"], b["rmse_forecast"], b["predictability_time"]
            lines.append(
                f"{name:<24}{a['median']:>9.3f} [{a['p10']:.3f}, {a['p90']:.3f}]"
                f"{f['median']:>10.3f} [{f['p10']:.3f}, {f['p90']:.3f}]"
                f"{p['median']:>8.2f} [{p['p10']:.2f}, {p['p90']:.2f}]"
            )
    return "\n".join(lines)


def evaluate_model(
    path,
    *,
    preset=None,
    obs_every=5,
    obs_noise=0.5,
    observed=(0, 1, 2),
    n_problems=256,
    n_steps=None,
    key=2026,
    T_assim=50,
) -> dict:
    """A saved model and strong 4DVar on the same `n_problems` test problems of `T_assim` steps
    (4DVar by Gauss-Newton up to 50 steps, quasi-static beyond, where Gauss-Newton fails)."""
    model, header = load_model(path)
    config = config_of(header)
    preset = preset or config.preset
    settings = dict(preset=preset, obs_every=obs_every, obs_noise=obs_noise, observed=observed, T_assim=T_assim)
    problems = test_problems(key, n_problems, **settings)
    if config.architecture == "fourdvarnet_reference":
        trajectories = methods.fourdvarnet_reference_trajectories(model, problems)
    else:
        trajectories = methods.fourdvarnet_trajectories(model, problems, n_steps)
    solver = "gauss-newton" if T_assim <= 50 else "quasi-static"
    fourdvar, analysis = methods.strong_4dvar_trajectories(problems, solver)
    ours, theirs = batch_statistics(trajectories, problems), batch_statistics(fourdvar, problems)
    return {
        "model": str(path),
        "trained_on": config.label(),
        "architecture": config.architecture,
        "test": {
            **settings,
            "observed": "".join("xyz"[c] for c in observed),
            "n_problems": n_problems,
            "key": key,
        },
        "model_stats": ours,
        "strong_4dvar_stats": {
            **theirs,
            "converged_fraction": float(np.mean(np.asarray(analysis.converged))),
            "solver": solver,
        },
        "ratio_rmse_assim_median": ours["rmse_assim"]["median"] / theirs["rmse_assim"]["median"],
    }


def format_evaluation(payload: dict) -> str:
    t = payload["test"]
    lines = [
        f"{payload['model']} ({payload['architecture']}, trained on {payload['trained_on']})",
        f"tested on {t['n_problems']} problems: {t['preset']}, obs every {t['obs_every']}, "
        f"noise {t['obs_noise']}, observed {t['observed']}",
        f"{'':<14}{'rmse_assim median [p10, p90]':>32}{'rmse_forecast median':>22}",
    ]
    for label, s in (("model", payload["model_stats"]), ("strong 4DVar", payload["strong_4dvar_stats"])):
        a = s["rmse_assim"]
        lines.append(
            f"{label:<14}{a['median']:>14.3f} [{a['p10']:.3f}, {a['p90']:.3f}]{s['rmse_forecast']['median']:>22.3f}"
        )
    lines.append(f"ratio of median rmse_assim (model / 4DVar): {payload['ratio_rmse_assim_median']:.2f}")
    return "\n".join(lines)
