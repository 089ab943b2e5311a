"""`python -m core`'s parser: every subcommand's flags, each checked against its quantity's bounds
(`cli_arguments`) as argparse reads it."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from core.cli import cycle as cycle_cli
from core.cli.arguments import (
    BENCH_BATCH,
    HIDDEN_DIM,
    KEY,
    LEARNING_RATE,
    MODEL_RHO,
    N_PROBLEMS,
    OBS_EVERY,
    OBS_NOISE,
    SOLVER_STEPS,
    TRAIN_BATCH,
    TRAIN_OBS_EVERY_MAX,
    TRAIN_STEPS,
    WINDOW,
    WORKERS,
    OneLineParser,
    allow_long_argument,
    checked,
    components,
    problem_arguments,
    window_argument,
)
from core.cli.window_system import system_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m core",
        description="Lorenz-63 and Lorenz-96 twin experiments: 4DVar against FourDVarNet, with or without model error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reproduce", help="the reference notebook's table, for one key and over many problems")
    problem_arguments(p)
    # Told apart from given flags: xyz and the seed preset on Lorenz-63, all variables and attractor on Lorenz-96.
    p.set_defaults(observed=None, preset=None)
    system_arguments(p)
    window_argument(p)
    checked(
        p,
        "--n-problems",
        replace(N_PROBLEMS, low=0),
        default=0,
        help="also score every method over N test problems (mean, median, p10, p90), %(range)s (0: none)",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train our FourDVarNet afresh instead of loading the shipped model",
    )
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("train", help="train a FourDVarNet on simulated problems and save it")
    p.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default="attractor",
        help="problem preset to train on (default: %(default)s)",
    )
    checked(
        p,
        "--obs-every",
        replace(OBS_EVERY, high=TRAIN_OBS_EVERY_MAX, most=TRAIN_OBS_EVERY_MAX),
        default=(5,),
        help="training density, %(range)s and at most the shortest --window; several train on a mix (default: 5)",
    )
    checked(
        p,
        "--obs-noise",
        replace(OBS_NOISE, most=20),
        default=(0.5,),
        help="training noise std, %(range)s; several train on a mix (default: 0.5)",
    )
    p.add_argument(
        "--observed",
        type=components,
        nargs="+",
        default=None,
        help="lorenz63: observed components; several (e.g. xyz x) train on a mix (default: xyz)",
    )
    system_arguments(p)
    checked(
        p,
        "--model-rho-range",
        replace(MODEL_RHO, most=2),
        default=None,
        help="lorenz63: LOW,HIGH, the methods' rho drawn uniformly per training problem (a mixed-mismatch model), "
        "each %(range)s; instead of --model-rho",
    )
    checked(
        p, "--steps", TRAIN_STEPS, default=None, help="training steps, %(range)s (default: 600 ours, 200 --reference)"
    )
    checked(
        p,
        "--batch-size",
        TRAIN_BATCH,
        default=None,
        help="problems per step, %(range)s (default: 64 for ours, 32 for --reference)",
    )
    checked(p, "--learning-rate", LEARNING_RATE, default=None, help="Adam learning rate, %(range)s")
    checked(p, "--seed", KEY, default=0, help="initialisation and data seed, %(range)s (default: %(default)s)")
    checked(
        p,
        "--window",
        replace(WINDOW, most=10),
        default=(50,),
        help="window length in steps, %(range)s; several train on a mix (default: 50)",
    )
    p.add_argument("--init", type=Path, default=None, help="start from the weights of this model file (fine-tuning)")
    checked(p, "--hidden-dim", HIDDEN_DIM, default=None, help="ConvLSTM hidden channels (ours), %(range)s")
    p.add_argument(
        "--reference",
        action="store_true",
        help="train the reference notebook's architecture (FourDVarNet1D) as it did",
    )
    p.add_argument("--out", type=Path, required=True, help="where to write the model file")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    allow_long_argument(p)

    p = sub.add_parser("evaluate", help="score a saved model and strong 4DVar on the same test problems")
    p.add_argument("--model", type=Path, required=True, help="a model file written by `train`")
    p.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default=None,
        help="test preset (default: the one the model was trained on)",
    )
    checked(p, "--obs-every", OBS_EVERY, default=5, help="test density, %(range)s and at most --window (default: 5)")
    checked(p, "--obs-noise", OBS_NOISE, default=0.5, help="test noise std, %(range)s (default: 0.5)")
    p.add_argument("--observed", type=components, default=None, help="lorenz63: test components (default: xyz)")
    system_arguments(p)
    checked(p, "--n-problems", N_PROBLEMS, default=256, help="number of test problems, %(range)s (default: 256)")
    checked(
        p, "--n-steps", SOLVER_STEPS, default=None, help="solver steps K at inference, %(range)s (default: trained)"
    )
    checked(p, "--key", KEY, default=2026, help="PRNG key of the test set, %(range)s (default: %(default)s)")
    window_argument(p, "the test window (4DVar: Gauss-Newton up to 50 steps, quasi-static beyond)")
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("sweep", help="how FourDVarNets trained at one density (or a mix) fare at others")
    p.add_argument("--quick", action="store_true", help="a small sweep that fits in about a minute on 2 cores")
    checked(
        p, "--n-problems", N_PROBLEMS, default=None, help="test problems a setting, %(range)s (default: 256, quick: 64)"
    )
    checked(
        p, "--steps", TRAIN_STEPS, default=None, help="training steps of models not shipped (default: 3000, quick: 40)"
    )
    p.add_argument("--retrain", action="store_true", help="train every model afresh instead of loading shipped ones")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to train on (e.g. tcp://host:8786)")
    checked(p, "--workers", WORKERS, default=None, help="train on a local Dask cluster of N processes, %(range)s")
    p.add_argument("--save-dir", type=Path, default=None, help="save the models this sweep trains in DIR")
    p.add_argument("--force", action="store_true", help="with --save-dir: overwrite models already there")
    window_argument(p, "the test window (the models are trained on 50-step windows)")
    system_arguments(p)
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("windows", help="the Long windows table: 4DVar solvers and FourDVarNets at 25..300 steps")
    checked(p, "--n-problems", N_PROBLEMS, default=64, help="test problems per window, %(range)s (default: 64)")
    checked(
        p,
        "--windows",
        replace(WINDOW, most=10),
        default=None,
        help="window lengths: %(range)s (default: 25,50,100,200,300)",
    )
    checked(p, "--key", KEY, default=2026, help="PRNG key of the test set, %(range)s (default: %(default)s)")
    p.add_argument("--no-timing", action="store_true", help="scores only, no timings (faster)")
    system_arguments(p)
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("bench", help="the speed budgets (README, Budgets): 4DVar and FourDVarNet timed side by side")
    checked(
        p, "--batch-size", BENCH_BATCH, default=1024, help="batch size of the vmapped runs, %(range)s (default: 1024)"
    )
    window_argument(p)
    system_arguments(p)
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    cycle_cli.add_parser(sub)
    return parser
