"""The "Long windows" table: where strong 4DVar breaks as the window grows, and what mends it.

`python -m core windows` scores, on the FourDVarNet authors' Lorenz-63 set-up (attractor truth,
x, y, z observed every 8 steps with noise std sqrt(2)), the 4DVar solvers (Gauss-Newton, BFGS,
quasi-static) and two FourDVarNets (the shipped 50-step one and the long-window one) at windows of
25 to 300 steps: median RMSE over window steps 10..T-10, the share of windows above 1, the share
of 4DVar solves flagged as not converged (wrong minimum, cap or failure), and the time per problem.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import jax
import numpy as np
from jaxtyping import Array, Float

from core._validate import check_range
from core.cli.terminal import red
from core.cli.window_system import describe_system
from core.da.evaluation import Timing, time_call
from core.da.method import AbstractMethod, analyse, analyse_batch
from core.methods.learned import FourDVarNetMethod
from core.methods.variational import Strong4DVar
from core.nets.model_files import load_model, shipped_model_path
from core.setups.problems import Problem, generate_problems, index_problem
from core.studies.landscape import MAX_WINDOW, cost_landscape

WINDOWS = (25, 50, 100, 200, 300)
LONG_SETUP = dict(preset="attractor", obs_every=8, obs_noise=math.sqrt(2.0))
SCORE_MARGIN = 10  # the window's first and last 10 steps are left out of its RMSE
LONG_MODEL_NAME = "long"  # assets/models/fourdvarnet_attractor_long.eqx
FOURDVAR_SOLVERS = ("gauss-newton", "bfgs", "quasi-static")
LABELS = {
    "gauss-newton": "4DVar, Gauss-Newton",
    "bfgs": "4DVar, BFGS",
    "quasi-static": "4DVar, quasi-static",
    "fourdvarnet": "FourDVarNet, 50-step model",
    "fourdvarnet_long": "FourDVarNet, long-window model",
}
TIMED_PROBLEMS = 8  # single-problem times cycle over this many problems (their costs differ)


def long_window_problems(key: int, n_problems: int, window: int, **system_settings) -> Problem:
    """The table's test problems: `n_problems` on the long set-up, from a fold of `key` (as the
    other test sets, disjoint from training keys); `system_settings`: the system and mismatch keywords."""
    check_range("window", window, 10, MAX_WINDOW, integer=True)
    return generate_problems(
        jax.random.fold_in(jax.random.PRNGKey(key), 7), n_problems, T_assim=window, **LONG_SETUP, **system_settings
    )


def window_rmse(windows: Float[Array, "B T n"], problems: Problem, margin: int = SCORE_MARGIN) -> np.ndarray:
    """Each problem's RMSE over window steps `margin`..T-`margin` (all the variables)."""
    T = problems.T_assim
    error = np.asarray(windows - problems.truth_window)[:, margin : T - margin + 1]
    return np.sqrt(np.mean(error**2, axis=(1, 2)))


def _timings(method: AbstractMethod, problems: Problem) -> dict:
    """Median ms of one warmed-up analysis (cycling over a few problems) and per problem in a batch."""
    few = [index_problem(problems, i) for i in range(min(TIMED_PROBLEMS, problems.obs.shape[0]))]
    for p in few:  # warm-up: compile once
        jax.block_until_ready(analyse(method, p))
    cycle = itertools.cycle(few)
    _, one_ms, _ = time_call(lambda: analyse(method, next(cycle)), Timing(min_repeats=2 * len(few)))
    _, batch_ms, _ = time_call(lambda: analyse_batch(method, problems), Timing(min_repeats=3, min_total_s=0.3))
    return {"ms_per_problem": one_ms, "ms_per_problem_batch": batch_ms / problems.obs.shape[0]}


def _row(name: str, rmse: np.ndarray, flagged: np.ndarray | None, timings: dict) -> dict:
    return {
        "method": name,
        "label": LABELS[name],
        "median_rmse": float(np.median(rmse)),
        "share_above_1": float(np.mean(rmse > 1.0)),
        "share_flagged": None if flagged is None else float(np.mean(flagged)),
        "flagged_among_above_1": None if flagged is None or not np.any(rmse > 1) else float(np.mean(flagged[rmse > 1])),
        **timings,
    }


def landscape_times(windows=(50, MAX_WINDOW), n: int = 64, key: int = 0) -> dict:
    """Median ms (warm) of a `n` x `n` cost landscape, per window length, and the first call apart."""
    out = {}
    for window in windows:
        problem = jax.tree_util.tree_map(lambda a: a[0], long_window_problems(key, 1, window))
        extents = itertools.cycle((2.0, 2.5, 3.0))  # a new extent each call, as a slider sends
        call = lambda problem=problem, extents=extents: cost_landscape(problem, "x-z", next(extents), n).cost
        _, ms, compile_ms = time_call(call, Timing(min_repeats=10))
        out[str(window)] = {"median_ms": ms, "first_call_extra_ms": compile_ms}
    return out


def long_window_table(
    *,
    n_problems: int = 64,
    windows=WINDOWS,
    key: int = 2026,
    models: dict | None = None,
    timing: bool = True,
    system_settings: dict | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """The table: for each window and method, median RMSE, share > 1, share flagged, ms.
    `system_settings`: the system and mismatch keywords of the problems; off Lorenz-63 the
    FourDVarNets (trained on it) are left out.

    Arguments:
        n_problems: test problems per window.
        windows: window lengths in steps (10..MAX_WINDOW each).
        key: test-set key.
        models: {"fourdvarnet": model, "fourdvarnet_long": model}; default: the shipped files
            (a missing file is skipped, and said so in the payload).
        timing: measure times (medians of warm calls; compile apart) or leave them out.
        log: called with a line of progress before each method.

    Returns:
        {"setup", "device", "rows": [{window, method, label, median_rmse, share_above_1,
        share_flagged, flagged_among_above_1, ms_per_problem, ms_per_problem_batch}],
        "missing_models", "landscape_ms"}; `format_windows` renders it.

    Raises:
        ValueError: `n_problems` or a window out of range (checked before any work).
    """
    check_range("n_problems", n_problems, 1, 100_000, integer=True)
    check_range("window", list(windows), 10, MAX_WINDOW, integer=True)
    system_settings = dict(system_settings or {})
    lorenz63 = system_settings.get("system", "lorenz63") == "lorenz63"
    models = (_shipped_models() if lorenz63 else {}) if models is None else models
    rows, missing = [], [name for name in ("fourdvarnet", "fourdvarnet_long") if models.get(name) is None]
    methods = {solver: Strong4DVar(solver) for solver in FOURDVAR_SOLVERS}
    methods.update({name: FourDVarNetMethod(model) for name, model in models.items() if model is not None})
    for window in windows:
        problems = long_window_problems(key, n_problems, window, **system_settings)
        for name, method in methods.items():
            log(f"window {window}: {name}")
            analyses = analyse_batch(method, problems)
            flagged = ~np.asarray(analyses.converged) if name in FOURDVAR_SOLVERS else None
            times = _timings(method, problems) if timing else {}
            rows.append({"window": window, **_row(name, window_rmse(analyses.window, problems), flagged, times)})
    payload = {
        "setup": {
            **LONG_SETUP,
            "n_problems": n_problems,
            "key": key,
            "scored_steps": f"{SCORE_MARGIN}..T-{SCORE_MARGIN}",
            **describe_system(system_settings),
        },
        "device": jax.devices()[0].device_kind,
        "rows": rows,
        "missing_models": missing,
    }
    if timing and lorenz63:
        log("cost landscape timings")
        payload["landscape_ms"] = landscape_times()
    return payload


def _shipped_models() -> dict:
    models = {}
    for name, file_name in (("fourdvarnet", "every5"), ("fourdvarnet_long", LONG_MODEL_NAME)):
        path = shipped_model_path("attractor", file_name)
        models[name] = load_model(path, architecture="fourdvarnet")[0] if path.exists() else None
    return models


def format_windows(payload: dict, colour: bool = False) -> str:
    """The table as Markdown (the README's "Long windows" section pastes it). A share of flagged
    solves above 0 (wrong minimum, cap or failure) is red if `colour` (the CLI: only on a terminal)."""
    s = payload["setup"]
    lines = [
        f"{s['n_problems']} attractor problems a window, x, y, z observed every {s['obs_every']} steps, "
        f"noise std {s['obs_noise']:.3g}; RMSE over window steps {s['scored_steps']}; {payload['device']}",
        "",
        "| window | method | median RMSE | > 1 | flagged | ms / problem | ms / problem, batch |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"
    ms = lambda v: "-" if v is None else f"{v:.3g}"
    for r in payload["rows"]:
        flagged = red(pct(r["share_flagged"]), colour and bool(r["share_flagged"]))
        lines.append(
            f"| {r['window']} | {r['label']} | {r['median_rmse']:.3f} | {pct(r['share_above_1'])} | "
            f"{flagged} | {ms(r.get('ms_per_problem'))} | {ms(r.get('ms_per_problem_batch'))} |"
        )
    if payload["missing_models"]:
        lines.append(f"\nnot found (skipped): {', '.join(payload['missing_models'])}")
    if "landscape_ms" in payload:
        parts = [f"{w} steps {v['median_ms']:.1f} ms" for w, v in payload["landscape_ms"].items()]
        lines.append(f"\ncost landscape, 64 x 64 grid, median of warm calls: {'; '.join(parts)}")
    return "\n".join(lines)
