"""The window commands' system and model-error flags: `--system`, Lorenz-96's `--forcing` and
`--n-variables`, the observation operator (`--obs-spacing`, `--observed-share`) and the methods' model
(`--model-rho`, `--model-forcing`, `--model-noise`, from `arguments.model_error_arguments`).

`system_settings(args)` turns them into `generate_problem`'s keyword arguments after refusing, in one
line naming the flag, any that does not belong to the system; `describe_system` is what the JSON says.
"""

from __future__ import annotations

import argparse

from core.cli.arguments import FORCING, OBS_SPACING, CliError, Quantity, checked, model_error_arguments
from core.setups.window_systems import DEFAULT_N_VARIABLES, N_VARIABLES_RANGE, SYSTEMS, default_parameter

N_VARIABLES = Quantity(*N_VARIABLES_RANGE)
OBSERVED_SHARE = Quantity(0.01, 1.0, integer=False)
SYSTEM_DT = {"lorenz63": 0.01, "lorenz96": 0.05}  # Lorenz-96: DAPPER's and the 4DVarNet authors' step
# Flags that only one system understands, by argparse dest.
FOREIGN = {
    "lorenz63": ("forcing", "n_variables", "model_forcing"),
    "lorenz96": ("model_rho",),
}
LOWER_DIMENSIONAL = ("lorenz96",)  # systems whose variables are not x, y, z


def system_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--system`, `--forcing`, `--n-variables`, `--obs-spacing`, `--observed-share` and the model-error flags."""
    parser.add_argument(
        "--system",
        choices=SYSTEMS,
        default="lorenz63",
        help="the system: lorenz63 (dt 0.01) or lorenz96 (dt 0.05, attractor preset only; default: %(default)s)",
    )
    checked(parser, "--forcing", FORCING, default=None, help="lorenz96: the truth's F, %(range)s (default: 8)")
    checked(
        parser, "--n-variables", N_VARIABLES, default=None, help="lorenz96: the state's size, %(range)s (default: 40)"
    )
    checked(
        parser,
        "--obs-spacing",
        OBS_SPACING,
        default=None,
        help="observe every k-th variable from the first, %(range)s and at most the state's size (default: 1, all)",
    )
    checked(
        parser,
        "--observed-share",
        OBSERVED_SHARE,
        default=None,
        help="at each observation time observe each variable with this probability, %(range)s (default: 1)",
    )
    model_error_arguments(parser)


def system_settings(args) -> dict:
    """`generate_problem`'s keyword arguments for these flags (system, dt, Lorenz-96's size and F, the
    observation operator, the mismatch); refuses a flag foreign to `--system` in one line naming it."""
    system = args.system
    for dest in FOREIGN[system]:
        if getattr(args, dest, None) is not None:
            other = "lorenz96" if system == "lorenz63" else "lorenz63"
            raise CliError(f"--{dest.replace('_', '-')} applies to --system {other} only; got --system {system}")
    if system in LOWER_DIMENSIONAL and getattr(args, "observed", None) is not None:
        raise CliError(f"--observed names Lorenz-63's x, y, z; use --obs-spacing with --system {system}")
    if system in LOWER_DIMENSIONAL and getattr(args, "preset", None) == "seed":
        raise CliError(f"--preset seed is Lorenz-63's reference problem; --system {system} has --preset attractor only")
    n = DEFAULT_N_VARIABLES[system] if getattr(args, "n_variables", None) is None else args.n_variables
    if args.obs_spacing is not None and args.obs_spacing > n:
        raise CliError(f"--obs-spacing must be between 1 and {n} (the state's size); got {args.obs_spacing}")
    if args.obs_spacing is not None and getattr(args, "observed", None) is not None:
        raise CliError("--observed and --obs-spacing both choose the observed variables: give one")
    settings: dict = {"system": system, "dt": SYSTEM_DT[system]}
    if system == "lorenz96":
        settings |= {
            "n_variables": n,
            "forcing": args.forcing if args.forcing is not None else default_parameter(system),
        }
        if args.model_forcing is not None:
            settings["model_forcing"] = args.model_forcing
    elif args.model_rho is not None:
        settings["model_rho"] = args.model_rho
    for dest in ("obs_spacing", "observed_share", "model_noise"):
        if getattr(args, dest) is not None:
            settings[dest] = getattr(args, dest)
    return settings


def describe_system(settings: dict) -> dict:
    """What the JSON says about the system and the gap: the truth's and the methods' parameters, Q."""
    system = settings.get("system", "lorenz63")
    if system == "lorenz63":
        truth = {"rho": default_parameter(system)}
        model = {"rho": settings.get("model_rho", truth["rho"])}
    else:
        truth = {"forcing": settings.get("forcing", default_parameter(system))}
        model = {"forcing": settings.get("model_forcing", truth["forcing"])}
    return {
        "system": system,
        "dt": settings.get("dt", SYSTEM_DT[system]),
        "n_variables": settings.get("n_variables", DEFAULT_N_VARIABLES[system]),
        "truth_parameters": truth,
        "model_parameters": model,
        "model_noise": settings.get("model_noise", 0.0),
        "obs_spacing": settings.get("obs_spacing", 1),
        "observed_share": settings.get("observed_share", 1.0),
    }


def is_default_system(settings: dict) -> bool:
    """Lorenz-63 with no mismatch, no model noise and the usual observation operator: today's problems."""
    return set(settings) <= {"system", "dt"} and settings.get("system", "lorenz63") == "lorenz63"
