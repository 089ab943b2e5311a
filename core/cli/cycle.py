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

from core.cli.arguments import (
    B_SCALE,
    BURN_IN,
    ENSEMBLE_SIZE,
    INFLATION,
    KEY,
    LAG,
    N_CYCLES,
    OBS_EVERY,
    OBS_NOISE,
    CliError,
    allow_long_argument,
    checked,
    components,
)
from core.cli.budget import check_budget, cycle_flags_to_lower, cycle_seconds
from core.da.registry import CYCLED_METHOD_NAMES, cycled_parameters, registered_methods


def _tuned(parameter: str) -> str:
    """Each registered cycled method's tuned value of `parameter`, for the help text."""
    entries = registered_methods("cycled").values()
    return ", ".join(f"{e.name} {e.defaults[parameter]}" for e in entries if parameter in e.defaults)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `cycle` subcommand to `python -m core`'s subparsers."""
    p = subparsers.add_parser(
        "cycle",
        help="cycled DA (OI, 3DVar, 4DVar, EnKF, iEnKS, FourDVarNet) on DAPPER's sakov2012 set-up, scored as DAPPER",
    )
    p.add_argument(
        "--method",
        action="append",
        choices=CYCLED_METHOD_NAMES,
        required=True,
        help="a method to cycle; repeat the flag to run several side by side on the same truth",
    )
    p.add_argument(
        "--setup", choices=("sakov2012",), default="sakov2012", help="the twin experiment (default: %(default)s)"
    )
    checked(
        p, "--obs-every", OBS_EVERY, default=25, help="model steps (dt 0.01) between analyses, %(range)s (default: 25)"
    )
    checked(
        p,
        "--obs-noise",
        OBS_NOISE,
        default=math.sqrt(2.0),
        help="observation noise standard deviation, %(range)s (default: sqrt 2, i.e. R = 2 I as sakov2012)",
    )
    p.add_argument(
        "--observed", type=components, default=(0, 1, 2), help="observed components, e.g. xyz or x (default: xyz)"
    )
    checked(
        p, "--ensemble-size", ENSEMBLE_SIZE, default=10, help="members of the ensemble methods, %(range)s (default: 10)"
    )
    checked(
        p,
        "--inflation",
        INFLATION,
        default=None,
        help="multiplicative inflation of the ensemble methods, %(range)s (default: DAPPER's tuning, "
        + _tuned("inflation")
        + ")",
    )
    checked(p, "--lag", LAG, default=1, help="window in cycles of strong_4dvar and ienks, %(range)s (default: 1)")
    checked(
        p,
        "--b-scale",
        B_SCALE,
        default=None,
        help="static B of var3d and strong_4dvar, times the climatological covariance, %(range)s (default: "
        + _tuned("b_scale")
        + ")",
    )
    checked(
        p, "--n-cycles", N_CYCLES, default=1001, help="number of analyses, %(range)s (default: 1001, DAPPER's Ko=1000)"
    )
    checked(
        p,
        "--burn-in",
        BURN_IN,
        default=None,
        help="leading cycles left out of the scores, at most --n-cycles - 6 (default: DAPPER's 16 time units, "
        "64 cycles at --obs-every 25)",
    )
    checked(p, "--key", KEY, default=0, help="PRNG key of the truth, %(range)s; the methods use key + 1 (default: 0)")
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _validate(args) -> int:
    """The checks that need several flags (each flag's own range is checked as it is read), and the
    estimate of the run's time against the budget; returns the burn-in."""
    from core.da.cycle import default_burn_in

    burn_in = default_burn_in(args.obs_every) if args.burn_in is None else args.burn_in
    if args.burn_in is None:
        burn_in = min(burn_in, args.n_cycles // 2)
    elif burn_in > args.n_cycles - 6:
        raise CliError(f"--burn-in must be between 0 and --n-cycles - 6 ({args.n_cycles - 6}); got {burn_in}")
    if "fourdvarnet" in args.method and args.obs_every != 25:
        raise CliError(
            f"--obs-every must be 25 with --method fourdvarnet (its windows are trained on that); got {args.obs_every}"
        )
    if len(set(args.method)) != len(args.method):
        raise CliError(f"--method lists a method twice: {' '.join(args.method)}")
    seconds = cycle_seconds(args.method, args.n_cycles, args.obs_every, args.ensemble_size, args.lag)
    check_budget("cycle", seconds, cycle_flags_to_lower(args.method), args.allow_long)
    return burn_in


def run_comparison(args, burn_in: int) -> dict:
    """Simulate once, cycle every method on it, score and time each."""
    import jax

    from core.da.cycle import cycle_scores, sakov2012, simulate, time_cycle
    from core.da.registry import build_cycled_method

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
        overrides = dict(ensemble_size=args.ensemble_size, inflation=args.inflation, lag=args.lag, b_scale=args.b_scale)
        method = build_cycled_method(name, **overrides)
        record, ms_per_cycle, compile_s = time_cycle(method, setup, truth, jax.random.PRNGKey(args.key + 1))
        scores = cycle_scores(record, truth, burn_in)
        scores.update(ms_per_cycle=ms_per_cycle, compile_s=compile_s)
        scores.update(cycled_parameters(name, **overrides))  # what it ran with, tuned or given
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
    """Check the flags together and the run's estimate, then run; errors are one line, exit 2 in `core.cli.main`."""
    burn_in = _validate(args)
    payload = run_comparison(args, burn_in)
    if args.json:
        print(json.dumps(_finite_or_none(payload), indent=2))
    else:
        print(format_table(payload))
    sys.stdout.flush()
    return 0
