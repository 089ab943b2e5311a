"""The reference notebook's table (one key, and statistics over many test problems), and the
evaluation of a saved model against strong 4DVar on the same problems."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax

from core.cli.terminal import not_converged, pad_coloured, red
from core.cli.window_system import describe_system
from core.da.evaluation import evaluate
from core.da.method import describe_status
from core.da.registry import MethodContext, build_methods
from core.methods.learned import learned_method
from core.methods.variational import Strong4DVar
from core.nets.model_files import config_of, load_model, shipped_model_path
from core.nets.training import REFERENCE_CONFIG, TrainingConfig, fit
from core.setups.problems import generate_problem, generate_problems


def test_problems(key: int, n_problems: int, **settings):
    """The test set of `reproduce` and `evaluate`: disjoint from the single-key problem and from
    training keys (a fold of the key)."""
    return generate_problems(jax.random.fold_in(jax.random.PRNGKey(key), 7), n_problems, **settings)


def our_model(preset: str, settings: dict, retrain: bool, log: Callable[[str], None], mismatch: dict | None = None):
    """The shipped model for `preset` unless `retrain`; else train one on the test settings (with the
    methods' model and the truth's noise of `mismatch`)."""
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
        **{k: v for k, v in (mismatch or {}).items() if k in ("model_rho", "model_noise")},
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
    system_settings: dict | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Every registered method on the problem of `key`; with `n_problems`, also statistics over a
    test set. The learned methods use the reference FourDVarNet trained as the notebook did (built
    for the window: n_time = T_assim + 1) and our shipped model (or one trained afresh with `retrain`).
    `system_settings`: `generate_problem`'s system and mismatch keywords (`core.cli.window_system`);
    on Lorenz-96 the learned methods, trained on Lorenz-63, are left out."""
    system_settings = dict(system_settings or {})
    settings = dict(preset=preset, obs_every=obs_every, obs_noise=obs_noise, observed=observed, T_assim=T_assim)
    settings |= system_settings
    problem = generate_problem(jax.random.PRNGKey(key), **settings)
    if system_settings.get("system", "lorenz63") != "lorenz63":
        return _reproduce_without_learned(problem, settings, key, n_problems, system_settings)

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
    model, train_time_s = our_model(preset, settings, retrain, log, system_settings)
    train_times = {"fourdvarnet_reference": reference_report.train_time_s, "fourdvarnet": train_time_s}
    methods = build_methods(MethodContext(model=model, reference_model=reference_model))

    results = {}
    for name, method in methods.items():
        e = evaluate(method, problem)
        results[name] = {
            "rmse_assim": float(e.rmse_assim),
            "rmse_forecast": float(e.rmse_forecast),
            "rmse_total": float(e.rmse_total),
            "runtime_ms": e.runtime_ms,
            "compile_ms": e.compile_ms,
            "train_time_s": train_times.get(name),
            "converged": bool(e.analysis.converged) if e.iterative else None,
            "num_steps": int(e.analysis.num_steps) if e.iterative else None,
            "status": describe_status(int(e.analysis.status)),
            "predictability_time": None if math.isnan(e.predictability_time) else float(e.predictability_time),
        }
    if "fourdvarnet_reference" in results:
        final_mse = reference_report.losses[-1] if reference_report.losses else None
        results["fourdvarnet_reference"]["final_train_mse"] = final_mse

    if n_problems:
        problems = test_problems(key, n_problems, **settings)
        for name, method in methods.items():
            results[name]["batch"] = evaluate(method, problems, timing=None).statistics()
    return {
        "preset": preset,
        "key": key,
        "obs_every": obs_every,
        "obs_noise": obs_noise,
        "observed": "".join("xyz"[c] for c in observed),
        "window": T_assim,
        **describe_system(system_settings),
        "methods": results,
    }


def _method_result(e) -> dict:
    return {
        "rmse_assim": float(e.rmse_assim),
        "rmse_forecast": float(e.rmse_forecast),
        "rmse_total": float(e.rmse_total),
        "runtime_ms": e.runtime_ms,
        "compile_ms": e.compile_ms,
        "train_time_s": None,
        "converged": bool(e.analysis.converged) if e.iterative else None,
        "num_steps": int(e.analysis.num_steps) if e.iterative else None,
        "status": describe_status(int(e.analysis.status)),
        "predictability_time": None if math.isnan(e.predictability_time) else float(e.predictability_time),
    }


def _reproduce_without_learned(problem, settings: dict, key: int, n_problems: int, system_settings: dict) -> dict:
    """`reproduce` on a system the learned methods were not trained on: the classical methods only."""
    methods = build_methods(MethodContext(), learned=False)
    results = {name: _method_result(evaluate(method, problem)) for name, method in methods.items()}
    if n_problems:
        problems = test_problems(key, n_problems, **settings)
        for name, method in methods.items():
            results[name]["batch"] = evaluate(method, problems, timing=None).statistics()
    return {
        "preset": settings["preset"],
        "key": key,
        "obs_every": settings["obs_every"],
        "obs_noise": settings["obs_noise"],
        "observed": "all" if settings["observed"] is None else ",".join(map(str, settings["observed"])),
        "window": settings["T_assim"],
        **describe_system(system_settings),
        "methods": results,
        "left_out": "the learned methods (trained on Lorenz-63)",
    }


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:.{digits}f}"


def format_table(payload: dict, colour: bool = False) -> str:
    """The table as text; a solve that did not converge reads "NO (wrong minimum)" etc., in red if
    `colour` (the CLI asks for it only when stdout is a terminal), with its status words under it."""
    lines = [
        f"preset {payload['preset']}, key {payload['key']}, obs every {payload['obs_every']}, "
        f"noise {payload['obs_noise']}, observed {payload['observed']}",
        f"{'method':<24}{'rmse_assim':>11}{'rmse_fcst':>11}{'rmse_total':>11}{'runtime ms':>12}"
        f"{'train s':>9}{'converged':>20}",
    ]
    failures = []
    for name, r in payload["methods"].items():
        if r["converged"] is False:
            verdict = not_converged(r["status"])
            failures.append(red(f"  {name}: {r['status']}", colour))
        else:
            verdict = _fmt(r["converged"]) if r["converged"] is not None else "-"
        lines.append(
            f"{name:<24}{_fmt(r['rmse_assim']):>11}{_fmt(r['rmse_forecast']):>11}"
            f"{_fmt(r['rmse_total']):>11}{_fmt(r['runtime_ms']):>12}{_fmt(r['train_time_s'], 1):>9}"
            f"{pad_coloured(verdict, 20, colour, r['converged'] is False)}"
        )
    lines += failures
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
    system_settings: dict | None = None,
) -> dict:
    """A saved model and strong 4DVar on the same `n_problems` test problems of `T_assim` steps
    (4DVar by Gauss-Newton up to 50 steps, quasi-static beyond, where Gauss-Newton fails).
    `system_settings`: the system and mismatch keywords of the test problems; the model must have been
    trained on that system (a mismatch it was not trained on is allowed: that is a test of it)."""
    model, header = load_model(path)
    config = config_of(header)
    system_settings = dict(system_settings or {})
    system = system_settings.get("system", "lorenz63")
    if config.system != system:
        raise ValueError(f"--system {system}: the model {str(path)!r} was trained on {config.system}")
    preset = preset or config.preset
    settings = dict(preset=preset, obs_every=obs_every, obs_noise=obs_noise, observed=observed, T_assim=T_assim)
    problems = test_problems(key, n_problems, **settings, **system_settings)
    ours = evaluate(learned_method(model, n_steps), problems, timing=None).statistics()
    # Beyond the default window, Gauss-Newton from the background falls into wrong minima.
    solver = "gauss-newton" if T_assim <= 50 else "quasi-static"
    theirs = evaluate(Strong4DVar(solver), problems, timing=None).statistics()
    return {
        "model": str(path),
        "trained_on": config.label(),
        "architecture": config.architecture,
        "test": {
            **settings,
            "observed": "all"
            if observed is None
            else "".join("xyz"[c] for c in observed)
            if system == "lorenz63"
            else ",".join(map(str, observed)),
            "n_problems": n_problems,
            "key": key,
            **describe_system(system_settings),
        },
        "model_stats": ours,
        "strong_4dvar_stats": {**theirs, "solver": solver},
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
