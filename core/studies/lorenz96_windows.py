"""The 4DVarNet authors' Lorenz-96 window problem (core/setups/lorenz96_windows.py): the methods' table.

For each method, on the test windows: median window RMSE over steps SCORE_MARGIN..T-SCORE_MARGIN (all 40
variables) with its p10-p90, the share of windows flagged as a wrong minimum (status STATUS_WRONG_MINIMUM),
the share not converged (any other non-zero status), and ms per window (median of warmed-up batched runs;
the first, compiling call apart). The authors' anchor (RMSE ~0.91) is printed beside it.

    python -m core.studies.lorenz96_windows --json

The costly solvers (quasi-static and BFGS strong 4DVar, weak 4DVar) run on the first `--slow-problems`
windows only, said so in their row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from core._validate import check_range
from core.da.method import (
    STATUS_CONVERGED,
    STATUS_DIRECT,
    STATUS_WRONG_MINIMUM,
    AbstractMethod,
    Analysis,
    analyse_batch,
)
from core.methods.learned import FourDVarNetMethod
from core.methods.variational import Strong4DVar
from core.methods.weak_variational import Weak4DVar
from core.nets.model_files import SHIPPED_MODELS, load_model
from core.setups.lorenz96_windows import ANCHOR_RMSE, AUTHORS_SETUP, N_TEST, TEST_KEY, authors_test_problems
from core.setups.problems import Problem
from core.studies.windows import SCORE_MARGIN, window_rmse

MODEL_PATH = SHIPPED_MODELS / "lorenz96" / "fourdvarnet_l96_window200_share50.eqx"
WEAK_Q = 0.1  # a small model-error variance per unit time: the perfect model's weak 4DVar, regularised


class FreeRun(AbstractMethod):
    """The background mean run through the model: what no observation gives."""

    def analyse(self, problem: Problem) -> Analysis:
        window = problem.forward.rollout(problem.background_mean, problem.T_assim)
        direct = jnp.asarray(STATUS_DIRECT, jnp.int32)
        return Analysis(
            window=window, num_steps=jnp.asarray(0), status=direct, cost=jnp.nan, std=jnp.full_like(window, jnp.nan)
        )


def methods(model=None, bfgs: bool = False) -> dict[str, tuple[AbstractMethod, bool]]:
    """{name: (method, costly)}: the costly ones run on the slow subset."""
    table = {
        "free_run": (FreeRun(), False),
        "strong_4dvar_gn": (Strong4DVar("gauss-newton"), False),
        "strong_4dvar_qs": (Strong4DVar("quasi-static"), True),
        "weak_4dvar": (Weak4DVar(WEAK_Q), True),
    }
    if bfgs:
        table["strong_4dvar_bfgs"] = (Strong4DVar("bfgs"), True)
    if model is not None:
        table["fourdvarnet"] = (FourDVarNetMethod(model), False)
    return table


def _run(method: AbstractMethod, problems: Problem, repeats: int):
    """The analyses and the median ms per window of `repeats` warmed-up batched runs (compile apart)."""
    start = time.perf_counter()
    analyses = jax.block_until_ready(analyse_batch(method, problems))
    first_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(analyse_batch(method, problems))
        times.append(time.perf_counter() - start)
    n = problems.obs.shape[0]
    return analyses, 1e3 * statistics.median(times) / n, first_s


def lorenz96_window_table(
    n_problems: int = N_TEST,
    slow_problems: int = 16,
    *,
    model=None,
    bfgs: bool = False,
    repeats: int = 2,
    key: int = TEST_KEY,
    overrides: dict | None = None,
    log=lambda _: None,
) -> dict:
    """The table's rows (see the module's docstring); `overrides` changes the set-up (e.g. a shorter window)."""
    check_range("n_problems", n_problems, 1, 100_000, integer=True)
    check_range("slow_problems", slow_problems, 1, n_problems, integer=True)
    check_range("repeats", repeats, 1, 100, integer=True)
    problems = authors_test_problems(n_problems, key, **(overrides or {}))
    subset = jax.tree_util.tree_map(lambda a: a[:slow_problems], problems)
    rows = []
    for name, (method, costly) in methods(model, bfgs).items():
        batch = subset if costly else problems
        log(f"{name} on {batch.obs.shape[0]} windows")
        analyses, ms, first_s = _run(method, batch, repeats)
        rmse = window_rmse(analyses.window, batch)
        status = np.asarray(analyses.status)
        rows.append(
            {
                "method": name,
                "n_windows": int(batch.obs.shape[0]),
                "median_rmse": float(np.median(rmse)),
                "p10_rmse": float(np.percentile(rmse, 10)),
                "p90_rmse": float(np.percentile(rmse, 90)),
                "share_wrong_minimum": float(np.mean(status == STATUS_WRONG_MINIMUM)),
                "share_not_converged": float(
                    np.mean(~np.isin(status, (STATUS_CONVERGED, STATUS_DIRECT, STATUS_WRONG_MINIMUM)))
                ),
                "ms_per_window": ms,
                "first_call_s": first_s,
            }
        )
    setup = {**AUTHORS_SETUP, **(overrides or {})}
    return {
        "setup": {**setup, "n_problems": n_problems, "key": key, "scored_steps": f"{SCORE_MARGIN}..T-{SCORE_MARGIN}"},
        "anchor_rmse": ANCHOR_RMSE,
        "device": jax.devices()[0].device_kind,
        "rows": rows,
    }


def format_table(payload: dict) -> str:
    lines = [
        f"Lorenz-96 window problem (steps {payload['setup']['scored_steps']}); authors' anchor RMSE "
        f"{payload['anchor_rmse']:.2f}",
        f"{'method':<18}{'windows':>8}{'median':>8}{'p10':>7}{'p90':>7}{'wrong min':>10}{'not conv':>9}{'ms/win':>9}",
    ]
    for r in payload["rows"]:
        lines.append(
            f"{r['method']:<18}{r['n_windows']:>8}{r['median_rmse']:>8.3f}{r['p10_rmse']:>7.3f}{r['p90_rmse']:>7.3f}"
            f"{r['share_wrong_minimum']:>10.0%}{r['share_not_converged']:>9.0%}{r['ms_per_window']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=N_TEST, help="test windows (default: %(default)s)")
    parser.add_argument("--slow-problems", type=int, default=16, help="windows for the costly solvers")
    parser.add_argument("--bfgs", action="store_true", help="also BFGS strong 4DVar (slow)")
    parser.add_argument("--model", type=Path, default=MODEL_PATH, help="the FourDVarNet file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        check_range("--problems", args.problems, 1, 100_000, integer=True)
        check_range("--slow-problems", args.slow_problems, 1, args.problems, integer=True)
    except ValueError as error:
        parser.error(str(error))
    model = load_model(args.model, architecture="fourdvarnet")[0] if args.model.exists() else None
    if model is None:
        print(f"no model at {args.model}: the FourDVarNet row is left out", file=sys.stderr)
    payload = lorenz96_window_table(
        args.problems, args.slow_problems, model=model, bfgs=args.bfgs, log=lambda m: print(m, file=sys.stderr)
    )
    print(json.dumps(payload, indent=1) if args.json else format_table(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
