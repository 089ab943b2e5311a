"""`python -m core cycle`: cycled assimilation on DAPPER's Lorenz-63 set-up, several methods side by side.

Every method runs on the same truth and observations; scores are DAPPER's (rmse_a after the burn-in,
its autocorrelation-corrected standard error, rmse_f, spread_a), and ms_per_cycle is the median of
warmed-up runs, compile time reported apart.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from .cycle_methods import CYCLE_METHOD_NAMES, DEFAULT_B_SCALE, DEFAULT_INFLATION, ENSEMBLE_METHODS


def _components(text: str) -> tuple[int, ...]:
    if not text or any(c not in "xyz" for c in text) or len(set(text)) != len(text):
        raise argparse.ArgumentTypeError(
            f"observed must be letters among x, y, z without repeats (e.g. xyz, xz, x); got {text!r}"
        )
    return tuple(sorted("xyz".index(c) for c in text))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `cycle` subcommand to `python -m core`'s subparsers."""
    p = subparsers.add_parser(
        "cycle",
        help="cycled DA (OI, 3DVar, 4DVar, EnKF, iEnKS, FourDVarNet) on DAPPER's sakov2012 set-up, scored as DAPPER",
    )
    p.add_argument(
        "--method",
        action="append",
        choices=CYCLE_METHOD_NAMES,
        required=True,
        help="a method to cycle; repeat the flag to run several side by side on the same truth",
    )
    p.add_argument(
        "--setup", choices=("sakov2012",), default="sakov2012", help="the twin experiment (default: %(default)s)"
    )
    p.add_argument(
        "--obs-every", type=int, default=25, help="model steps (dt 0.01) between observations, 1..1000 (default: 25)"
    )
    p.add_argument(
        "--obs-noise",
        type=float,
        default=math.sqrt(2.0),
        help="observation noise standard deviation, 0.01..100 (default: sqrt 2, i.e. R = 2 I as sakov2012)",
    )
    p.add_argument(
        "--observed", type=_components, default=(0, 1, 2), help="observed components, e.g. xyz or x (default: xyz)"
    )
    p.add_argument(
        "--ensemble-size", type=int, default=10, help="members of the ensemble methods, 2..1000 (default: 10)"
    )
    p.add_argument(
        "--inflation",
        type=float,
        default=None,
        help="multiplicative inflation of the ensemble methods, 1..3 (default: DAPPER's tuning, "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_INFLATION.items())
        + ")",
    )
    p.add_argument("--lag", type=int, default=1, help="window in cycles of strong_4dvar and ienks, 1..50 (default: 1)")
    p.add_argument(
        "--b-scale",
        type=float,
        default=None,
        help="static B of var3d and strong_4dvar, times the climatological covariance (default: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_B_SCALE.items())
        + ")",
    )
    p.add_argument(
        "--n-cycles", type=int, default=1001, help="number of analyses, 10..1000000 (default: 1001, DAPPER's Ko=1000)"
    )
    p.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="leading cycles left out of the scores (default: DAPPER's 16 time units, 64 cycles at --obs-every 25)",
    )
    p.add_argument("--key", type=int, default=0, help="PRNG key of the truth; the methods use key + 1 (default: 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _validate(args) -> int:
    from ._validate import check_range
    from .cycle import default_burn_in

    check_range("--obs-every", args.obs_every, 1, 1000, integer=True)
    check_range("--obs-noise", args.obs_noise, 0.01, 100.0)
    check_range("--ensemble-size", args.ensemble_size, 2, 1000, integer=True)
    if args.inflation is not None:
        check_range("--inflation", args.inflation, 1.0, 3.0)
    check_range("--lag", args.lag, 1, 50, integer=True)
    if args.b_scale is not None:
        check_range("--b-scale", args.b_scale, 1e-4, 100.0)
    check_range("--n-cycles", args.n_cycles, 10, 1_000_000, integer=True)
    burn_in = default_burn_in(args.obs_every) if args.burn_in is None else args.burn_in
    if args.burn_in is None:
        burn_in = min(burn_in, args.n_cycles // 2)
    check_range("--burn-in", burn_in, 0, args.n_cycles - 6, integer=True)
    check_range("--key", args.key, 0, 2**31 - 2, integer=True)
    if "fourdvarnet" in args.method and args.obs_every != 25:
        raise ValueError(
            f"--obs-every must be 25 with --method fourdvarnet (its windows are trained on that); got {args.obs_every}"
        )
    if len(set(args.method)) != len(args.method):
        raise ValueError(f"--method lists a method twice: {' '.join(args.method)}")
    return burn_in


def run_comparison(args, burn_in: int) -> dict:
    """Simulate once, cycle every method on it, score and time each."""
    import jax

    from .cycle import cycle_scores, sakov2012, simulate, time_cycle
    from .cycle_methods import build_cycled_method

    setup = sakov2012(
        obs_every=args.obs_every, obs_noise=args.obs_noise, observed=args.observed, n_cycles=args.n_cycles
    )
    truth = simulate(setup, jax.random.PRNGKey(args.key))
    payload = {
        "setup": {
            "name": args.setup,
            "obs_every": args.obs_every,
            "obs_noise": args.obs_noise,
            "observed": "".join("xyz"[i] for i in args.observed),
            "n_cycles": args.n_cycles,
            "burn_in": burn_in,
            "key": args.key,
        },
        "methods": {},
    }
    for name in args.method:
        method = build_cycled_method(
            name, n_members=args.ensemble_size, inflation=args.inflation, lag=args.lag, b_scale=args.b_scale
        )
        record, ms_per_cycle, compile_s = time_cycle(method, setup, truth, jax.random.PRNGKey(args.key + 1))
        scores = cycle_scores(record, truth, burn_in)
        scores.update(ms_per_cycle=ms_per_cycle, compile_s=compile_s)
        if name in ENSEMBLE_METHODS:
            scores.update(
                ensemble_size=args.ensemble_size,
                inflation=DEFAULT_INFLATION[name] if args.inflation is None else args.inflation,
            )
        if name in ("strong_4dvar", "ienks"):
            scores["lag"] = args.lag
        if name in DEFAULT_B_SCALE:
            scores["b_scale"] = DEFAULT_B_SCALE[name] if args.b_scale is None else args.b_scale
        payload["methods"][name] = scores
    return payload


def format_table(payload: dict) -> str:
    s = payload["setup"]
    lines = [
        f"{s['name']}: obs every {s['obs_every']} steps, noise std {s['obs_noise']:.3g}, observed {s['observed']}, "
        f"{s['n_cycles']} cycles, burn-in {s['burn_in']}, key {s['key']}",
        f"{'method':16s} {'rmse_a':>14s} {'rmse_f':>8s} {'spread_a':>9s} {'spread/err':>10s} {'ms/cycle':>9s}",
    ]
    for name, r in payload["methods"].items():
        lines.append(
            f"{name:16s} {r['rmse_a']:7.3f} +-{r['rmse_a_stderr']:5.3f} {r['rmse_f']:8.3f} {r['spread_a']:9.3f} "
            f"{r['spread_error_ratio']:10.3f} {r['ms_per_cycle']:9.4f}" + ("  DIVERGED" if r["diverged"] else "")
        )
    return "\n".join(lines)


def _finite_or_none(value):
    """NaN is not JSON: write null instead."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def command(args) -> int:
    """Validate every argument, then run; errors are ValueErrors (one line, exit 2 in `core.cli`)."""
    burn_in = _validate(args)
    payload = run_comparison(args, burn_in)
    if args.json:
        print(json.dumps(_finite_or_none(payload), indent=2))
    else:
        print(format_table(payload))
    sys.stdout.flush()
    return 0
