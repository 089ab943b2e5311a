"""The model-error table of cycled DA: the truth's system against the methods' model (docs/cycle.md).

`python -m core.studies.cycle_model_error --json docs/cycle_model_error.json` runs, on DAPPER's
Lorenz-63 sakov2012 (x, y, z every 25 steps, noise std sqrt 2) with the truth at rho = 28 and the
methods' model at rho = 26: the square-root EnKF with its inflation tuned on a grid, cycled strong
4DVar (B scale tuned), cycled weak 4DVar (q and B scale tuned), the shipped cycled FourDVarNet
(trained without mismatch) and the FourDVarNet trained under the mismatch; and the same methods
without mismatch for reference. Then Lorenz-96 sakov2008 (truth F = 8, the methods' F = 7, every
variable observed at every step): the EnKF (N 24) and the LETKF (N 7) with tuned inflation, cycled
strong 4DVar (B scale tuned) and weak 4DVar (q tuned, at strong 4DVar's B scale), on fewer cycles
(`--l96-cycles`, `--l96-tune-cycles`): its 4DVars cost ~0.15 s a cycle here.

Every tuning is chosen on its own truth (`--tune-key`), then scored on another (`--key`): rmse_a after
DAPPER's burn-in with its AR(1)-corrected standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from core._validate import check_range
from core.da.cycle import cycle_scores, run_cycle, simulate
from core.da.registry import build_cycled_method
from core.methods.cycle_methods import CycledStrong4DVar, CycledWeak4DVar
from core.nets.cycle_fourdvarnet import MISMATCH_MODEL_PATH, CycledFourDVarNet, load_cycled_model
from core.setups import sakov2008, sakov2012

# The grids each method's tuning is chosen from (on the tuning truth).
INFLATIONS = (1.0, 1.02, 1.05, 1.1, 1.2, 1.3, 1.5, 1.8, 2.2)
B_SCALES = (0.002, 0.005, 0.02, 0.1, 0.5)
QS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# Lorenz-96's 4DVars cost ~0.15 s a cycle on the 2 shared cores (40 x 40 algebra, 10 Gauss-Newton
# iterations): smaller grids, weak 4DVar's B scale is strong 4DVar's tuned one.
L96_B_SCALES = (0.005, 0.02, 0.1)
L96_QS = (0.03, 0.1, 0.3, 1.0)


def _score(method, setup, truth, burn_in: int, key) -> dict:
    """Scores after the burn-in, at most half the run (as the cycle CLI)."""
    start = time.perf_counter()
    scores = cycle_scores(run_cycle(method, setup, truth, key), truth, min(burn_in, setup.n_cycles // 2))
    scores["seconds"] = time.perf_counter() - start
    return scores


def _tuned(candidates: dict, setup, truth, burn_in: int, key) -> tuple[str, dict]:
    """The candidate (label -> method) with the lowest finite rmse_a on the tuning truth."""
    results = {label: _score(m, setup, truth, burn_in, key)["rmse_a"] for label, m in candidates.items()}
    finite = {label: r for label, r in results.items() if np.isfinite(r)}
    if not finite:
        raise ValueError(f"every candidate diverged on the tuning truth: {sorted(results)}")
    best = min(finite, key=finite.get)
    return best, results


def _rows(methods: dict, tune: tuple, evaluate: tuple, burn_in: int, method_key) -> dict:
    """Each entry name -> (grid of label -> method) or a single method: tuned on `tune`, scored on `evaluate`."""
    rows = {}
    for name, candidates in methods.items():
        if isinstance(candidates, dict) and len(candidates) > 1:
            best, grid = _tuned(candidates, *tune, burn_in, method_key)
            method = candidates[best]
        else:
            method = next(iter(candidates.values())) if isinstance(candidates, dict) else candidates
            best, grid = None, None
        scores = _score(method, *evaluate, burn_in, method_key)
        rows[name] = {
            "rmse_a": scores["rmse_a"],
            "rmse_a_stderr": scores["rmse_a_stderr"],
            "rmse_f": scores["rmse_f"],
            "spread_a": scores["spread_a"],
            "diverged": scores["diverged"],
            "tuning": best,
            "tuning_grid_rmse_a": grid,
        }
        print(f"  {name:34s} {scores['rmse_a']:.3f} +- {scores['rmse_a_stderr']:.3f}  {best or ''}", flush=True)
    return rows


def lorenz63_methods(mismatch_model) -> dict:
    enkf = {f"inflation {i:g}": build_cycled_method("enkf_sqrt", inflation=i) for i in INFLATIONS}
    strong = {f"b_scale {b:g}": CycledStrong4DVar(b) for b in B_SCALES}
    weak = {f"b_scale {b:g}, q {q:g}": CycledWeak4DVar(b, q) for b in B_SCALES for q in QS}
    methods = {
        "enkf_sqrt (N 10, inflation tuned)": enkf,
        "strong_4dvar (b_scale tuned)": strong,
        "weak_4dvar (q, b_scale tuned)": weak,
        "fourdvarnet (shipped, trained at rho 28)": CycledFourDVarNet(load_cycled_model()),
    }
    if mismatch_model is not None:
        methods["fourdvarnet (trained against rho 26)"] = CycledFourDVarNet(mismatch_model)
    return methods


def lorenz96_methods(weak_b_scale: float) -> dict:
    return {
        "enkf_sqrt (N 24, inflation tuned)": {
            f"inflation {i:g}": build_cycled_method("enkf_sqrt", ensemble_size=24, inflation=i) for i in INFLATIONS
        },
        "letkf (N 7, inflation tuned)": {
            f"inflation {i:g}": build_cycled_method("letkf", ensemble_size=7, inflation=i) for i in INFLATIONS
        },
        "strong_4dvar (b_scale tuned)": {f"b_scale {b:g}": CycledStrong4DVar(b) for b in L96_B_SCALES},
        "weak_4dvar (q tuned, strong's b_scale)": {
            f"b_scale {weak_b_scale:g}, q {q:g}": CycledWeak4DVar(weak_b_scale, q) for q in L96_QS
        },
    }


def run(
    n_cycles: int, key: int, tune_key: int, tune_cycles: int, lorenz63: bool, lorenz96: bool, l96_cycles: tuple
) -> dict:
    """Every row of the table (see the module's docstring); `l96_cycles`: Lorenz-96's (scored, tuning) cycles."""
    mismatch_model = load_cycled_model(MISMATCH_MODEL_PATH) if MISMATCH_MODEL_PATH.exists() else None
    method_key = jax.random.PRNGKey(key + 1)
    payload = {"lorenz63": {}, "lorenz96": {}, "settings": dict(n_cycles=n_cycles, key=key, tune_key=tune_key)}
    burn_in = sakov2012.default_burn_in(25)
    blocks = (("truth rho 28, methods' rho 26", 26.0), ("no mismatch (rho 28 both)", None)) if lorenz63 else ()
    for label, rho in blocks:
        print(f"Lorenz-63 sakov2012, {label}", flush=True)
        tune_setup = sakov2012.sakov2012(n_cycles=tune_cycles, model_rho=rho)
        setup = sakov2012.sakov2012(n_cycles=n_cycles, model_rho=rho)
        tune = (tune_setup, simulate(tune_setup, jax.random.PRNGKey(tune_key)))
        evaluate = (setup, simulate(setup, jax.random.PRNGKey(key)))
        payload["lorenz63"][label] = _rows(lorenz63_methods(mismatch_model), tune, evaluate, burn_in, method_key)
    if lorenz96:
        # Only the mismatch: sakov2008 without it is docs/cycle.md's Lorenz-96 table.
        label = "truth F 8, methods' F 7"
        print(f"Lorenz-96 sakov2008, {label}", flush=True)
        burn_in = sakov2008.burn_in(1)
        tune_setup = sakov2008.sakov2008(n_cycles=l96_cycles[1], model_forcing=7.0)
        setup = sakov2008.sakov2008(n_cycles=l96_cycles[0], model_forcing=7.0)
        tune = (tune_setup, simulate(tune_setup, jax.random.PRNGKey(tune_key)))
        evaluate = (setup, simulate(setup, jax.random.PRNGKey(key)))
        strong = {f"b_scale {b:g}": CycledStrong4DVar(b) for b in L96_B_SCALES}
        weak_b_scale = float(_tuned(strong, *tune, burn_in, method_key)[0].split()[-1])
        payload["lorenz96"][label] = _rows(lorenz96_methods(weak_b_scale), tune, evaluate, burn_in, method_key)
    return payload


def markdown(payload: dict) -> str:
    """The table docs/cycle.md shows: one block per system and mismatch."""
    lines = []
    for system, blocks in (("Lorenz-63 sakov2012", payload["lorenz63"]), ("Lorenz-96 sakov2008", payload["lorenz96"])):
        for label, rows in blocks.items():
            lines += [
                f"**{system}, {label}**",
                "",
                "| method | rmse_a | rmse_f | spread_a | tuning |",
                "|---|---|---|---|---|",
            ]
            for name, r in rows.items():
                flag = " (diverged)" if r["diverged"] else ""
                lines.append(
                    f"| {name} | {r['rmse_a']:.3f} +- {r['rmse_a_stderr']:.3f}{flag} | {r['rmse_f']:.3f} | "
                    f"{r['spread_a']:.3f} | {r['tuning'] or '-'} |"
                )
            lines.append("")
    return "\n".join(lines)


def _finite_or_none(value):
    """NaN is not JSON: null instead."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def main(argv=None) -> int:
    """`python -m core.studies.cycle_model_error [--n-cycles N] [--key K] [--json PATH] [--no-lorenz96]`."""
    parser = argparse.ArgumentParser(
        prog="python -m core.studies.cycle_model_error", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n-cycles", type=int, default=2001, help="cycles of the scored run (default: 2001)")
    parser.add_argument("--key", type=int, default=0, help="the scored truth's key; methods use key + 1 (default: 0)")
    parser.add_argument("--tune-key", type=int, default=100, help="the tuning truth's key (default: 100)")
    parser.add_argument("--tune-cycles", type=int, default=1001, help="cycles of the tuning run (default: 1001)")
    parser.add_argument("--no-lorenz63", action="store_true", help="only the Lorenz-96 rows")
    parser.add_argument("--no-lorenz96", action="store_true", help="only the Lorenz-63 rows")
    parser.add_argument("--l96-cycles", type=int, default=1001, help="Lorenz-96's scored cycles (default: 1001)")
    parser.add_argument("--l96-tune-cycles", type=int, default=300, help="Lorenz-96's tuning cycles (default: 300)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    try:
        check_range("--n-cycles", args.n_cycles, 200, 1_000_000, integer=True)
        check_range("--tune-cycles", args.tune_cycles, 200, 1_000_000, integer=True)
        check_range("--l96-cycles", args.l96_cycles, 200, 1_000_000, integer=True)
        check_range("--l96-tune-cycles", args.l96_tune_cycles, 200, 1_000_000, integer=True)
        check_range("--key", args.key, 0, 2**32 - 2, integer=True)
        check_range("--tune-key", args.tune_key, 0, 2**32 - 2, integer=True)
        if args.key == args.tune_key:
            raise ValueError(f"--tune-key must differ from --key (tuning on the scored truth); got {args.key}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    l96_cycles = (args.l96_cycles, args.l96_tune_cycles)
    payload = run(
        args.n_cycles, args.key, args.tune_key, args.tune_cycles, not args.no_lorenz63, not args.no_lorenz96, l96_cycles
    )
    payload["settings"]["seconds"] = time.perf_counter() - start
    if args.json is not None:
        args.json.write_text(json.dumps(_finite_or_none(payload), indent=2) + "\n")
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
