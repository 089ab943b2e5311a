"""`python -m core cycle`: cycled assimilation on DAPPER's set-ups, several methods side by side.

`--system lorenz63` runs sakov2012 by default, `--system lorenz96` sakov2008 (core/setups/cycled.py):
the set-up fills every default (spacing, noise, dt, and each method's tuning under which DAPPER's
documented scores hold), and any flag given overrides it.

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
    DT,
    ENSEMBLE_SIZE,
    FORCING,
    INFLATION,
    KEY,
    LAG,
    LOCALISATION_RADIUS,
    MODEL_ERROR_Q,
    N_CYCLES,
    OBS_EVERY,
    OBS_NOISE,
    OBS_SPACING,
    CliError,
    allow_long_argument,
    checked,
    components,
    model_error_arguments,
)
from core.cli.budget import check_budget, cycle_flags_to_lower, cycle_seconds
from core.da.registry import CYCLED_METHOD_NAMES, CYCLED_PARAMETERS, cycled_parameters, registered_methods
from core.setups.cycled import CYCLED_SETUPS, DEFAULT_SETUP, SYSTEMS, observed_every


def _tuned(parameter: str) -> str:
    """Each registered cycled method's tuned value of `parameter`, for the help text."""
    entries = registered_methods("cycled").values()
    return ", ".join(f"{e.name} {e.defaults[parameter]}" for e in entries if parameter in e.defaults)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `cycle` subcommand to `python -m core`'s subparsers."""
    p = subparsers.add_parser(
        "cycle",
        help="cycled DA (OI, 3DVar, strong and weak 4DVar, EnKF, LETKF, iEnKS, FourDVarNet) on DAPPER's set-ups, "
        "scored as DAPPER",
    )
    p.add_argument(
        "--method",
        action="append",
        choices=CYCLED_METHOD_NAMES,
        required=True,
        help="a method to cycle; repeat the flag to run several side by side on the same truth",
    )
    p.add_argument("--system", choices=SYSTEMS, default="lorenz63", help="the system (default: %(default)s)")
    p.add_argument(
        "--setup",
        choices=tuple(CYCLED_SETUPS),
        default=None,
        help="the twin experiment, whose values fill every default (default: sakov2012 for lorenz63, "
        "sakov2008 for lorenz96)",
    )
    checked(p, "--dt", DT, default=None, help="model time step, %(range)s (default: the set-up's, 0.01 or 0.05)")
    checked(p, "--forcing", FORCING, default=None, help="Lorenz-96's F, %(range)s (default: 8)")
    checked(
        p,
        "--obs-every",
        OBS_EVERY,
        default=None,
        help="model steps between analyses, %(range)s (default: the set-up's, 25 or 1)",
    )
    checked(
        p,
        "--obs-noise",
        OBS_NOISE,
        default=None,
        help="observation noise standard deviation, %(range)s (default: the set-up's, sqrt 2 or 1)",
    )
    p.add_argument(
        "--observed",
        type=components,
        default=None,
        help="lorenz63: observed components, e.g. xyz or x (default: xyz)",
    )
    checked(
        p,
        "--obs-spacing",
        OBS_SPACING,
        default=None,
        help="observe every k-th variable from the first, %(range)s and at most the state's size (default: 1, all)",
    )
    checked(
        p,
        "--ensemble-size",
        ENSEMBLE_SIZE,
        default=None,
        help="members of the ensemble methods, %(range)s (default: the set-up's tuning, else 10)",
    )
    checked(
        p,
        "--inflation",
        INFLATION,
        default=None,
        help="multiplicative inflation of the ensemble methods, %(range)s (default: the set-up's tuning, else "
        + _tuned("inflation")
        + ")",
    )
    checked(
        p,
        "--localisation-radius",
        LOCALISATION_RADIUS,
        default=None,
        help="the LETKF's radius (DAPPER's loc_rad) in grid spacings, %(range)s (default: 4)",
    )
    checked(p, "--lag", LAG, default=None, help="window in cycles of strong_4dvar and ienks, %(range)s (default: 1)")
    checked(
        p,
        "--b-scale",
        B_SCALE,
        default=None,
        help="static B of var3d, strong_4dvar and weak_4dvar, times the climatological covariance, %(range)s (default: "
        "the set-up's tuning, else " + _tuned("b_scale") + ")",
    )
    checked(
        p,
        "--model-error-q",
        MODEL_ERROR_Q,
        default=None,
        help="weak_4dvar's model-error variance per unit time, %(range)s (default: " + _tuned("model_error_q") + ")",
    )
    model_error_arguments(p)
    checked(
        p, "--n-cycles", N_CYCLES, default=1001, help="number of analyses, %(range)s (default: 1001, DAPPER's Ko=1000)"
    )
    checked(
        p,
        "--burn-in",
        BURN_IN,
        default=None,
        help="leading cycles left out of the scores, at most --n-cycles - 6 (default: the set-up's burn-in, "
        "e.g. sakov2012's 16 time units: 64 cycles at --obs-every 25)",
    )
    checked(p, "--key", KEY, default=0, help="PRNG key of the truth, %(range)s; the methods use key + 1 (default: 0)")
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def resolve(args) -> None:
    """Fill every flag left out from the set-up (`--setup`, else the system's), in place; refuse flags
    that do not belong to the system. Each flag's own range was checked as it was read."""
    args.setup = args.setup or DEFAULT_SETUP[args.system]
    spec = CYCLED_SETUPS[args.setup]
    if spec.system != args.system:
        raise CliError(f"--setup {args.setup} is a {spec.system} set-up; got --system {args.system}")
    if args.forcing is not None and args.system != "lorenz96":
        raise CliError(f"--forcing is Lorenz-96's F; got --system {args.system}")
    for flag, parameter in (("--model-rho", "model_rho"), ("--model-forcing", "model_forcing")):
        if getattr(args, parameter) is not None and parameter != spec.model_parameter:
            raise CliError(
                f"{flag} is the methods' {'rho (Lorenz-63)' if parameter == 'model_rho' else 'F (Lorenz-96)'}; "
                f"with --system {args.system} use --{spec.model_parameter.replace('_', '-')}"
            )
    if args.observed is not None and args.system != "lorenz63":
        raise CliError(f"--observed names Lorenz-63's x, y, z; use --obs-spacing with --system {args.system}")
    args.dt = spec.dt if args.dt is None else args.dt
    args.obs_every = spec.obs_every if args.obs_every is None else args.obs_every
    args.obs_noise = spec.obs_noise if args.obs_noise is None else args.obs_noise
    args.n_variables = spec.n_variables
    if args.obs_spacing is not None and args.obs_spacing > spec.n_variables:
        raise CliError(
            f"--obs-spacing must be between 1 and {spec.n_variables} (the state's size); got {args.obs_spacing}"
        )
    if args.obs_spacing is not None and args.observed is not None:
        raise CliError("--observed and --obs-spacing both choose the observed variables: give one")
    spacing = args.obs_spacing or 1
    args.observed_indices = args.observed or observed_every(spec.n_variables, spacing)
    args.system_parameters = {
        name: (default if getattr(args, name) is None else getattr(args, name))
        for name, default in spec.parameters.items()
    }
    # Model error: the methods' value of the mismatched parameter (the truth's when not given), Q.
    truth_value = spec.truth_value(**args.system_parameters)
    args.truth_value = truth_value
    args.model_value = (
        truth_value if getattr(args, spec.model_parameter) is None else getattr(args, spec.model_parameter)
    )
    args.model_noise = 0.0 if args.model_noise is None else args.model_noise
    args.mismatch = args.model_value != truth_value or args.model_noise > 0


def method_overrides(args, name: str) -> dict:
    """The flags the user gave, over the set-up's tuning of `name` (None: the registry's default)."""
    tuned = dict(CYCLED_SETUPS[args.setup].tuning.get(name, {}))
    given = {name: getattr(args, name) for name in CYCLED_PARAMETERS}  # each has its flag, named alike
    return {**tuned, **{k: v for k, v in given.items() if v is not None}}


def _validate(args) -> int:
    """The checks that need several flags, and the estimate of the run's time against the budget;
    returns the burn-in."""
    resolve(args)
    spec = CYCLED_SETUPS[args.setup]
    burn_in = spec.burn_in(args.obs_every, args.dt) if args.burn_in is None else args.burn_in
    if args.burn_in is None:
        burn_in = min(burn_in, args.n_cycles // 2)
    elif burn_in > args.n_cycles - 6:
        raise CliError(f"--burn-in must be between 0 and --n-cycles - 6 ({args.n_cycles - 6}); got {burn_in}")
    if "fourdvarnet" in args.method and (args.system, args.obs_every, args.dt) != ("lorenz63", 25, 0.01):
        raise CliError(
            "--obs-every must be 25 with --method fourdvarnet (its windows are trained on Lorenz-63 at dt 0.01, "
            f"every 25 steps); got --system {args.system} --obs-every {args.obs_every} --dt {args.dt:g}"
        )
    if len(set(args.method)) != len(args.method):
        raise CliError(f"--method lists a method twice: {' '.join(args.method)}")
    tuned = [cycled_parameters(m, **method_overrides(args, m)) for m in args.method]
    ensemble_size = max((t.get("ensemble_size", 0) for t in tuned), default=0)
    lag = max((t.get("lag", 1) for t in tuned), default=1)
    seconds = cycle_seconds(args.method, args.n_cycles, args.obs_every, ensemble_size, lag, args.n_variables)
    check_budget("cycle", seconds, cycle_flags_to_lower(args.method), args.allow_long)
    return burn_in


def run_comparison(args, burn_in: int) -> dict:
    """Simulate once, cycle every method on it, score and time each."""
    import jax

    from core.da.cycle import cycle_scores, simulate, time_cycle
    from core.da.registry import build_cycled_method

    spec = CYCLED_SETUPS[args.setup]
    setup = spec.build(
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=args.observed_indices,
        n_cycles=args.n_cycles,
        dt=args.dt,
        model_noise=args.model_noise,
        **args.system_parameters,
        **{spec.model_parameter: args.model_value},
    )
    truth = simulate(setup, jax.random.PRNGKey(args.key))
    described = {"system": args.system, "dt": args.dt, **args.system_parameters}
    if args.system == "lorenz63":
        described["observed"] = "".join("xyz"[i] for i in args.observed_indices)
    else:
        described.update(n_variables=args.n_variables, obs_spacing=args.obs_spacing or 1)
    payload = {
        "setup": {
            "name": args.setup,
            "obs_every": args.obs_every,
            "obs_noise": args.obs_noise,
            **described,
            spec.model_parameter: args.model_value,
            spec.model_parameter.replace("model_", "truth_"): args.truth_value,
            "model_noise": args.model_noise,
            "n_cycles": args.n_cycles,
            "burn_in": burn_in,
            "key": args.key,
        },
        "methods": {},
    }
    for name in args.method:
        overrides = method_overrides(args, name)
        method = build_cycled_method(name, **overrides)
        record, ms_per_cycle, compile_s = time_cycle(method, setup, truth, jax.random.PRNGKey(args.key + 1))
        scores = cycle_scores(record, truth, burn_in)
        scores.update(ms_per_cycle=ms_per_cycle, compile_s=compile_s)
        scores.update(cycled_parameters(name, **overrides))  # what it ran with: given, the set-up's, or tuned
        documented = spec.expected_rmse_a.get(name)
        if documented is not None and not _departs_from_setup(args, spec, name, overrides):
            scores["documented_rmse_a"] = documented
        payload["methods"][name] = scores
    return payload


def _departs_from_setup(args, spec, name: str, overrides: dict) -> bool:
    """Whether this run differs from the one DAPPER documents (so its documented score does not apply)."""
    plan = (args.obs_every, args.obs_noise, args.dt, len(args.observed_indices)) != (
        spec.documented_obs_every(name),
        spec.obs_noise,
        spec.dt,
        spec.n_variables,
    )
    tuning = overrides != dict(spec.tuning.get(name, {}))
    return plan or tuning or args.system_parameters != dict(spec.parameters) or args.mismatch


def format_table(payload: dict) -> str:
    s = payload["setup"]
    observed = s["observed"] if "observed" in s else f"every {s['obs_spacing']} of {s['n_variables']}"
    lines = [
        f"{s['name']} ({s['system']}): obs every {s['obs_every']} steps of {s['dt']:g}, "
        f"noise std {s['obs_noise']:.3g}, observed {observed}, "
        f"{s['n_cycles']} cycles, burn-in {s['burn_in']}, key {s['key']}" + _model_error_note(s),
        f"{'method':16s} {'rmse_a':>14s} {'rmse_f':>8s} {'spread_a':>9s} {'spread/err':>10s} {'ms/cycle':>9s}",
    ]
    for name, r in payload["methods"].items():
        lines.append(
            f"{name:16s} {r['rmse_a']:7.3f} +-{r['rmse_a_stderr']:5.3f} {r['rmse_f']:8.3f} {r['spread_a']:9.3f} "
            f"{r['spread_error_ratio']:10.3f} {r['ms_per_cycle']:9.4f}"
            + (f"  (DAPPER documents {r['documented_rmse_a']})" if "documented_rmse_a" in r else "")
            + ("  DIVERGED" if r["diverged"] else "")
        )
    return "\n".join(lines)


def _model_error_note(setup: dict) -> str:
    """`; methods' rho 26 (truth 28), truth's model noise Q 0.5` when the run has model error."""
    parameter = "model_rho" if "model_rho" in setup else "model_forcing"
    name = "rho" if parameter == "model_rho" else "F"
    truth = setup[parameter.replace("model_", "truth_")]
    note = f"; methods' {name} {setup[parameter]:g} (truth {truth:g})" if setup[parameter] != truth else ""
    return note + (f"; truth's model noise Q {setup['model_noise']:g}" if setup["model_noise"] > 0 else "")


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
