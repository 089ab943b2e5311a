"""Model error: strong 4DVar with a wrong model, and weak 4DVar with q tuned or estimated (issue 18.4).

`python -m core.studies.model_error --json`. Lorenz-63, the truth's rho 28 and the methods' 26,
100-step windows, x, y, z observed every 8 steps with noise std sqrt(2) (the long-window set-up), 256
test problems; q is tuned (a grid, scored against the truth) and estimated (Talagrand's criterion,
from the innovations only) on validation problems drawn from another key. Rows: strong 4DVar
(quasi-static, the long-window default) with the true model as the reference, strong 4DVar with the
wrong model and its flagged share, weak 4DVar with q tuned, weak 4DVar with q estimated. RMSE as the
Long windows table's (window steps 10..T-10), median with p10-p90; time per window is the median
of warmed-up single-problem analyses, compile apart. `--system lorenz96` runs the same rows with the
truth's F = 8 and the methods' F = 7 (dt 0.05, every 4th step, half the variables observed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import jax
import numpy as np

from core.cli.arguments import KEY, N_PROBLEMS, checked, json_default
from core.da.method import STATUS_WRONG_MINIMUM, AbstractMethod, analyse_batch
from core.methods.learned import learned_method
from core.methods.model_error_estimate import TUNING_GRID, estimate_model_error, tune_model_error
from core.methods.variational import Strong4DVar
from core.methods.weak_variational import Weak4DVar
from core.nets.learned_prior import LEARNED_PRIOR_PATH
from core.nets.model_files import load_model, shipped_model_path
from core.setups.problems import generate_problems
from core.studies.windows import _timings, window_rmse

TARGET_RATIO = 0.7  # weak 4DVar's RMSE at most 0.7x strong 4DVar's (issue 18.4)
LEARNED_TARGET_RATIO = 0.9  # the FourDVarNet trained on the mismatch at most 0.9x weak 4DVar's RMSE ...
LEARNED_TARGET_TIME = 1 / 3  # ... at most a third of its time per window
SETUPS = {
    "lorenz63": dict(
        problem=dict(system="lorenz63", T_assim=100, T_total=100, obs_every=8, obs_noise=math.sqrt(2.0)),
        mismatch={"model_rho": 26.0},
        truth={"rho": 28.0},
        # Shipped FourDVarNets (assets/models/make_models.sh): ours trained with the true model and against this
        # mismatch, and the authors' architecture, whose prior is an autoencoder learned from rho-28 truths (no model).
        learned={
            "fourdvarnet_perfect_model": (
                shipped_model_path("attractor", "long"),
                "FourDVarNet, trained with the true model",
            ),
            "fourdvarnet_mismatch": (
                shipped_model_path("attractor", "long_model_rho26"),
                "FourDVarNet, trained against rho 26",
            ),
            "fourdvarnet_learned_prior": (
                LEARNED_PRIOR_PATH,
                "FourDVarNet, learned prior (no model), trained on truths",
            ),
        },
    ),
    "lorenz96": dict(
        problem=dict(
            system="lorenz96",
            dt=0.05,
            T_assim=40,
            T_total=40,
            obs_every=4,
            obs_noise=math.sqrt(2.0),
            observed_share=0.5,
        ),
        mismatch={"model_forcing": 7.0},
        truth={"forcing": 8.0},
    ),
}


def _row(name: str, label: str, method: AbstractMethod, problems, timing: bool, **extra) -> dict:
    analysis = analyse_batch(method, problems)
    rmse = window_rmse(analysis.window, problems)
    flagged = np.asarray(analysis.status) == STATUS_WRONG_MINIMUM
    row = {
        "method": name,
        "label": label,
        "median_rmse": float(np.median(rmse)),
        "p10_rmse": float(np.percentile(rmse, 10)),
        "p90_rmse": float(np.percentile(rmse, 90)),
        "share_flagged": float(np.mean(flagged)),
        "share_not_converged": float(np.mean(np.asarray(analysis.status) != 0)),
        **extra,
    }
    if timing:
        row["ms_per_window"] = _timings(method, problems)["ms_per_problem"]
    return row


def model_error_table(
    *,
    system: str = "lorenz63",
    n_problems: int = 256,
    n_validation: int = 64,
    key: int = 2026,
    grid=TUNING_GRID,
    timing: bool = True,
    log=lambda _: None,
) -> dict:
    """The rows above, as a JSON-ready dict with the set-up, the tuning grid, the estimate and the ratio."""
    setup = SETUPS[system]
    root = jax.random.PRNGKey(key)
    # Test and validation problems from different folds of the key: q never sees the test set.
    test_key, validation_key = jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)
    wrong = generate_problems(test_key, n_problems, **setup["problem"], **setup["mismatch"])
    right = generate_problems(test_key, n_problems, **setup["problem"])  # same truth and observations
    validation = generate_problems(validation_key, n_validation, **setup["problem"], **setup["mismatch"])
    strong = Strong4DVar("quasi-static")
    rows = []
    log("strong 4DVar, true model")
    rows.append(_row("strong_true_model", "strong 4DVar, true model (reference)", strong, right, timing))
    log("strong 4DVar, wrong model")
    rows.append(_row("strong_wrong_model", "strong 4DVar, wrong model", strong, wrong, timing))
    log(f"tuning q over {list(grid)} on {n_validation} validation problems")
    q_tuned, grid_rows = tune_model_error(validation, window_rmse, grid)
    rows.append(
        _row("weak_q_tuned", f"weak 4DVar, q tuned ({q_tuned:g})", Weak4DVar(q_tuned), wrong, timing, q=q_tuned)
    )
    log("estimating q from the innovations (Talagrand's criterion)")
    estimate = estimate_model_error(validation)
    rows.append(
        _row(
            "weak_q_estimated",
            f"weak 4DVar, q estimated ({estimate.q:.3g})",
            Weak4DVar(estimate.q),
            wrong,
            timing,
            q=estimate.q,
        )
    )
    for name, (path, label) in setup.get("learned", {}).items():
        if not path.exists():
            log(f"{path} is missing: no {label} row")
            continue
        log(label)
        method = learned_method(load_model(path)[0])  # (ours, or the authors' architecture)
        row = _row(name, label, method, wrong, timing)
        row.update(share_flagged=None, share_not_converged=None)  # (one pass: no convergence, no chi-square)
        rows.append(row)
    median = {row["method"]: row["median_rmse"] for row in rows}
    ms = {row["method"]: row.get("ms_per_window") for row in rows}
    learned = {}
    if "fourdvarnet_mismatch" in median:
        learned = {
            "ratio_learned_to_weak_tuned": median["fourdvarnet_mismatch"] / median["weak_q_tuned"],
            "learned_target_ratio": LEARNED_TARGET_RATIO,
        }
        if timing:
            learned["time_ratio_learned_to_weak_tuned"] = ms["fourdvarnet_mismatch"] / ms["weak_q_tuned"]
            learned["learned_target_time_ratio"] = LEARNED_TARGET_TIME
    if "fourdvarnet_learned_prior" in median:  # (no target: the issue asks for the row, not a figure)
        learned["ratio_learned_prior_to_weak_tuned"] = median["fourdvarnet_learned_prior"] / median["weak_q_tuned"]
    return {
        "setup": {
            **{k: v for k, v in setup["problem"].items()},
            "truth": setup["truth"],
            "model": {k.removeprefix("model_"): v for k, v in setup["mismatch"].items()},
            "model_noise": 0.0,
            "n_problems": n_problems,
            "n_validation": n_validation,
            "key": key,
            "rmse": "window steps 10..T-10, all variables; median over problems with p10-p90",
        },
        "device": jax.devices()[0].device_kind,
        "rows": rows,
        "tuning_grid": grid_rows,
        "estimate": {"q": estimate.q, "ratio": estimate.ratio, "target": estimate.target, "tried": estimate.tried},
        "ratio_weak_tuned_to_strong": median["weak_q_tuned"] / median["strong_wrong_model"],
        "ratio_weak_estimated_to_strong": median["weak_q_estimated"] / median["strong_wrong_model"],
        "target_ratio": TARGET_RATIO,
        **learned,
    }


def format_table(payload: dict) -> str:
    lines = [f"{'method':56s} {'median':>7s} {'p10':>6s} {'p90':>6s} {'flagged':>8s} {'ms':>8s}"]
    for row in payload["rows"]:
        ms = row.get("ms_per_window")
        lines.append(
            f"{row['label']:56s} {row['median_rmse']:7.3f} {row['p10_rmse']:6.3f} {row['p90_rmse']:6.3f} "
            f"{'-' if row['share_flagged'] is None else format(row['share_flagged'], '.1%'):>8s} "
            f"{'-' if ms is None else f'{ms:8.2f}':>8s}"
        )
    lines.append(
        f"weak/strong (wrong model): tuned {payload['ratio_weak_tuned_to_strong']:.2f}, "
        f"estimated {payload['ratio_weak_estimated_to_strong']:.2f} (target <= {payload['target_ratio']})"
    )
    if "ratio_learned_to_weak_tuned" in payload:
        line = (
            "FourDVarNet trained on the mismatch / weak 4DVar (q tuned): "
            f"RMSE {payload['ratio_learned_to_weak_tuned']:.2f} (target <= {payload['learned_target_ratio']})"
        )
        if "time_ratio_learned_to_weak_tuned" in payload:
            line += (
                f", time {payload['time_ratio_learned_to_weak_tuned']:.2f}"
                f" (target <= {payload['learned_target_time_ratio']:.2f})"
            )
        lines.append(line)
    if "ratio_learned_prior_to_weak_tuned" in payload:
        lines.append(
            "FourDVarNet with a learned prior / weak 4DVar (q tuned): "
            f"RMSE {payload['ratio_learned_prior_to_weak_tuned']:.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.studies.model_error", description=__doc__.split("\n")[0])
    parser.add_argument("--system", choices=tuple(SETUPS), default="lorenz63")
    checked(parser, "--n-problems", N_PROBLEMS, default=256, help="test problems, %(range)s")
    checked(parser, "--n-validation", N_PROBLEMS, default=64, help="problems that tune and estimate q, %(range)s")
    checked(parser, "--key", KEY, default=2026, help="PRNG key, %(range)s")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    payload = model_error_table(
        system=args.system,
        n_problems=args.n_problems,
        n_validation=args.n_validation,
        key=args.key,
        timing=not args.no_timing,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print(json.dumps(payload, indent=2, default=json_default) if args.json else format_table(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
