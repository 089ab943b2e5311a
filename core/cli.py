"""`python -m core`: reproduce the reference table, train / evaluate models, run the benchmarks.

Every subcommand that reports numbers prints them as JSON with `--json`. Bad arguments exit with
status 2 and one line naming the parameter and what is allowed, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import cycle_cli
from .cli_arguments import (
    KEY_MAX,
    CliError,
    OneLineParser,
    check_flag,
    check_out_file,
    check_problem,
    check_problems_memory,
    check_scheduler,
    components,
    emit,
    float_list,
    int_list,
    one_line,
    problem_arguments,
    window_argument,
)
from .model_files import shipped_model_path


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m core",
        description="Lorenz-63 twin experiments: strong-constraint 4DVar against FourDVarNet.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reproduce", help="the reference notebook's table, for one key and over many problems")
    problem_arguments(p)
    window_argument(p)
    p.add_argument(
        "--n-problems",
        type=int,
        default=0,
        help="also score every method over N test problems (mean, median, p10, p90)",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train our FourDVarNet afresh instead of loading the shipped model",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("train", help="train a FourDVarNet on simulated problems and save it")
    p.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default="attractor",
        help="problem preset to train on (default: %(default)s)",
    )
    p.add_argument(
        "--obs-every",
        type=int_list,
        default=(5,),
        help="training density; several comma-separated values train on a mix (default: 5)",
    )
    p.add_argument(
        "--obs-noise",
        type=float_list,
        default=(0.5,),
        help="training noise std; several comma-separated values train on a mix (default: 0.5)",
    )
    p.add_argument(
        "--observed",
        type=components,
        nargs="+",
        default=[(0, 1, 2)],
        help="observed components; several (e.g. xyz x) train on a mix (default: xyz)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps, >= 0 (default: 600 for ours, 200 for --reference)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="problems per step (default: 64 for ours, 32 for --reference)",
    )
    p.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="initialisation and data seed (default: 0)")
    p.add_argument(
        "--window",
        type=int_list,
        default=(50,),
        help="window length in steps, 10..300; several comma-separated values train on a mix (default: 50)",
    )
    p.add_argument("--init", type=Path, default=None, help="start from the weights of this model file (fine-tuning)")
    p.add_argument("--hidden-dim", type=int, default=None, help="ConvLSTM hidden channels (ours)")
    p.add_argument(
        "--reference",
        action="store_true",
        help="train the reference notebook's architecture (FourDVarNet1D) as it did",
    )
    p.add_argument("--out", type=Path, required=True, help="where to write the model file")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")

    p = sub.add_parser("evaluate", help="score a saved model and strong 4DVar on the same test problems")
    p.add_argument("--model", type=Path, required=True, help="a model file written by `train`")
    p.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default=None,
        help="test preset (default: the one the model was trained on)",
    )
    p.add_argument("--obs-every", type=int, default=5, help="test density, 1 <= N <= the window (default: 5)")
    p.add_argument("--obs-noise", type=float, default=0.5, help="test noise std, >= 0 (default: 0.5)")
    p.add_argument("--observed", type=components, default=(0, 1, 2), help="test components (default: xyz)")
    p.add_argument("--n-problems", type=int, default=256, help="number of test problems (default: 256)")
    p.add_argument("--n-steps", type=int, default=None, help="solver steps K at inference (default: as trained)")
    p.add_argument("--key", type=int, default=2026, help="PRNG key of the test set (default: 2026)")
    window_argument(p, "the test window (4DVar: Gauss-Newton up to 50 steps, quasi-static beyond)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("sweep", help="how FourDVarNets trained at one density (or a mix) fare at others")
    p.add_argument("--quick", action="store_true", help="a small sweep that fits in about a minute on 2 cores")
    p.add_argument("--n-problems", type=int, default=None, help="test problems per setting (default: 256, quick: 64)")
    p.add_argument("--steps", type=int, default=None, help="training steps for models not shipped (default: 600)")
    p.add_argument("--retrain", action="store_true", help="train every model afresh instead of loading shipped ones")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler to train on (e.g. tcp://host:8786)")
    p.add_argument("--workers", type=int, default=None, help="train on a local Dask cluster of N worker processes")
    p.add_argument("--save-dir", type=Path, default=None, help="save the models this sweep trains in DIR")
    p.add_argument("--force", action="store_true", help="with --save-dir: overwrite models already there")
    window_argument(p, "the test window (the models are trained on 50-step windows)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("windows", help="the Long windows table: 4DVar solvers and FourDVarNets at 25..300 steps")
    p.add_argument("--n-problems", type=int, default=64, help="test problems per window (default: 64)")
    p.add_argument(
        "--windows", type=int_list, default=None, help="window lengths, 10..300 (default: 25,50,100,200,300)"
    )
    p.add_argument("--key", type=int, default=2026, help="PRNG key of the test set (default: 2026)")
    p.add_argument("--no-timing", action="store_true", help="scores only, no timings (faster)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("bench", help="the speed budgets (README, Budgets): 4DVar and FourDVarNet timed side by side")
    p.add_argument("--batch-size", type=int, default=1024, help="batch size of the vmapped runs (default: 1024)")
    window_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    cycle_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .model_files import ModelFileError

    try:
        return COMMANDS[args.command](args)
    except (ValueError, ModelFileError, OSError, MemoryError, OverflowError, CliError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    check_problem(args)
    check_flag("--n-problems", args.n_problems, 0, 100_000)
    check_problems_memory("--n-problems", args.n_problems)
    check_flag("--window", args.window, 10, 300)
    payload = reproduce(
        T_assim=args.window,
        preset=args.preset,
        key=args.key,
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=args.observed,
        n_problems=args.n_problems,
        retrain=args.retrain,
        log=(lambda msg: print(msg, file=sys.stderr)),
    )
    from .reproduce import format_table
    from .terminal import use_colour

    emit(payload, args.json, format_table(payload, colour=use_colour()))
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from .model_files import save_model
    from .resources import check_memory, training_memory_bytes
    from .training import REFERENCE_CONFIG, TrainingConfig, fit

    check_problem(args)
    if args.steps is not None:
        check_flag("--steps", args.steps, 0, 1_000_000)
    if args.batch_size is not None:
        check_flag("--batch-size", args.batch_size, 1, 100_000)
    if args.learning_rate is not None:
        check_flag("--learning-rate", args.learning_rate, 1e-7, 1.0, integer=False)
    check_flag("--seed", args.seed, 0, KEY_MAX)
    check_flag("--window", list(args.window), 10, 300)
    base = REFERENCE_CONFIG if args.reference else TrainingConfig()
    if args.reference and args.window != (50,):
        raise CliError("--window: the reference architecture is built for 50-step windows only")
    initial = None
    if args.init is not None:
        from .model_files import config_of, load_model

        if args.reference:
            raise CliError("--init fine-tunes our FourDVarNet; it does not apply with --reference")
        initial, header = load_model(args.init, architecture="fourdvarnet")
        base = TrainingConfig(hyperparameters=config_of(header).hyperparameters)
    hyper = dict(base.hyperparameters)
    if args.hidden_dim is not None:
        check_flag("--hidden-dim", args.hidden_dim, 1, 512)
        hyper["hidden_dim"] = args.hidden_dim
    batch_size = base.batch_size if args.batch_size is None else args.batch_size
    check_memory("--batch-size", batch_size, training_memory_bytes(batch_size))
    check_out_file("--out", args.out, args.force)
    config = TrainingConfig(
        architecture=base.architecture,
        preset=args.preset,
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=tuple(args.observed),
        T_assim=tuple(args.window),
        steps=base.steps if args.steps is None else args.steps,
        batch_size=batch_size,
        learning_rate=base.learning_rate if args.learning_rate is None else args.learning_rate,
        seed=args.seed,
        hyperparameters=hyper,
    )
    print(f"training {config.architecture} on {config.label()}, {config.steps} steps", file=sys.stderr)
    with tqdm(total=config.steps, unit="step", file=sys.stderr) as bar:

        def progress(step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")

        model, report = fit(config, callback=progress, model=initial)
    info = {
        "final_loss": report.losses[-1] if report.losses else None,
        "train_time_s": report.train_time_s,
        "compile_s": report.compile_s,
    }
    if args.init is not None:
        info["initialised_from"] = args.init.name
    save_model(args.out, model, config, info=info, overwrite=args.force)
    print(f"saved {args.out} (trained in {report.train_time_s:.1f} s, final loss {info['final_loss']})")
    return 0


def cmd_evaluate(args) -> int:
    from .reproduce import evaluate_model, format_evaluation

    check_problem(args)
    check_flag("--n-problems", args.n_problems, 1, 100_000)
    check_problems_memory("--n-problems", args.n_problems)
    if args.n_steps is not None:
        check_flag("--n-steps", args.n_steps, 0, 100)
    check_flag("--window", args.window, 10, 300)
    payload = evaluate_model(
        args.model,
        T_assim=args.window,
        preset=args.preset,
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=args.observed,
        n_problems=args.n_problems,
        n_steps=args.n_steps,
        key=args.key,
    )
    emit(payload, args.json, format_evaluation(payload))
    return 0


def cmd_bench(args) -> int:
    from .bench import format_bench, run_bench
    from .model_files import load_model
    from .resources import bench_memory_bytes, check_memory

    check_flag("--batch-size", args.batch_size, 1, 1_000_000)  # generate_problems' own bound
    check_memory("--batch-size", args.batch_size, bench_memory_bytes(args.batch_size))
    check_flag("--window", args.window, 10, 300)
    path = shipped_model_path("attractor")
    model = load_model(path)[0] if path.exists() else None
    payload = run_bench(model, batch_size=args.batch_size, window=args.window)
    emit(payload, args.json, format_bench(payload))
    return 0


def cmd_sweep(args) -> int:
    import dataclasses

    from .sweep import QUICK_PLAN, SweepPlan, format_sweep, sweep

    plan = QUICK_PLAN if args.quick else SweepPlan()
    check_flag("--window", args.window, 10, 300)
    plan = dataclasses.replace(plan, window=args.window)
    if args.n_problems is not None:
        check_flag("--n-problems", args.n_problems, 1, 100_000)
        plan = dataclasses.replace(plan, n_problems=args.n_problems)
    if args.steps is not None:
        check_flag("--steps", args.steps, 0, 1_000_000)
        plan = dataclasses.replace(plan, steps=args.steps)
    if args.workers is not None:
        check_flag("--workers", args.workers, 1, 256)
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--scheduler and --workers exclude each other: give one")
    check_problems_memory("--n-problems", plan.n_problems)
    if args.save_dir is not None:
        from .resources import check_writable_dir

        try:
            check_writable_dir(args.save_dir)
        except OSError as error:
            raise CliError(f"--save-dir {args.save_dir}: {error}") from None
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    payload = sweep(
        plan,
        use_shipped=not args.retrain,
        scheduler=args.scheduler,
        workers=args.workers,
        save_dir=args.save_dir,
        overwrite=args.force,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    emit(payload, args.json, format_sweep(payload))
    return 0


def cmd_windows(args) -> int:
    from .terminal import use_colour
    from .windows import WINDOWS, format_windows, long_window_table

    check_flag("--n-problems", args.n_problems, 1, 100_000)
    windows = WINDOWS if args.windows is None else args.windows
    check_flag("--windows", list(windows), 10, 300)
    payload = long_window_table(
        n_problems=args.n_problems,
        windows=windows,
        key=args.key,
        timing=not args.no_timing,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    emit(payload, args.json, format_windows(payload, colour=use_colour()))
    return 0


COMMANDS = {
    "reproduce": cmd_reproduce,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "sweep": cmd_sweep,
    "bench": cmd_bench,
    "cycle": cycle_cli.command,
    "windows": cmd_windows,
}
