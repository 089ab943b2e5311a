"""`python -m core`: reproduce the reference table, train / evaluate models, run the benchmarks.

Every subcommand that reports numbers prints them as JSON with `--json`. Bad arguments exit with
status 2 and one line naming the parameter and what is allowed, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from . import cycle_cli
from .cli_arguments import (
    BENCH_BATCH,
    HIDDEN_DIM,
    KEY,
    LEARNING_RATE,
    N_PROBLEMS,
    OBS_EVERY,
    OBS_NOISE,
    SOLVER_STEPS,
    TRAIN_BATCH,
    TRAIN_OBS_EVERY_MAX,
    TRAIN_STEPS,
    WINDOW,
    WORKERS,
    CliError,
    OneLineParser,
    allow_long_argument,
    check_obs_every,
    check_out_file,
    check_problems_memory,
    check_scheduler,
    checked,
    components,
    emit,
    one_line,
    problem_arguments,
    window_argument,
)
from .cli_budget import (
    bench_seconds,
    check_budget,
    evaluate_seconds,
    reproduce_seconds,
    sweep_seconds,
    train_seconds,
    windows_seconds,
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
        default=[(0, 1, 2)],
        help="observed components; several (e.g. xyz x) train on a mix (default: xyz)",
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
    p.add_argument("--observed", type=components, default=(0, 1, 2), help="test components (default: xyz)")
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
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("bench", help="the speed budgets (README, Budgets): 4DVar and FourDVarNet timed side by side")
    checked(
        p, "--batch-size", BENCH_BATCH, default=1024, help="batch size of the vmapped runs, %(range)s (default: 1024)"
    )
    window_argument(p)
    allow_long_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    cycle_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `python -m core ARGS`; the exit status: 0, 2 for a refused argument (one line on stderr,
    before any work), 130 if interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its one line (or the help): its status
        return exit_.code
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

    check_obs_every(args.obs_every, args.window, "at most --window")
    check_problems_memory("--n-problems", args.n_problems)
    check_budget(
        "reproduce", reproduce_seconds(args.n_problems, args.window, args.retrain), "--n-problems", args.allow_long
    )
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

    shortest = min(args.window)
    if shortest < TRAIN_OBS_EVERY_MAX:
        check_obs_every(args.obs_every, shortest, "at most the shortest --window")
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
    seconds = train_seconds(config.steps, batch_size, config.T_assim, hyper.get("hidden_dim"), args.reference)
    check_budget("train", seconds, "--steps or --batch-size", args.allow_long)
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
    from .model_files import read_model_header
    from .reproduce import evaluate_model, format_evaluation

    read_model_header(args.model)  # a missing or foreign file is refused before any estimate or work
    check_obs_every(args.obs_every, args.window, "at most --window")
    check_problems_memory("--n-problems", args.n_problems)
    check_budget("evaluate", evaluate_seconds(args.n_problems, args.window), "--n-problems", args.allow_long)
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

    check_memory("--batch-size", args.batch_size, bench_memory_bytes(args.batch_size))
    check_budget("bench", bench_seconds(args.batch_size, args.window), "--batch-size", args.allow_long)
    path = shipped_model_path("attractor")
    model = load_model(path)[0] if path.exists() else None
    payload = run_bench(model, batch_size=args.batch_size, window=args.window)
    emit(payload, args.json, format_bench(payload))
    return 0


def cmd_sweep(args) -> int:
    from .sweep import QUICK_PLAN, SweepPlan, format_sweep, sweep

    plan = replace(QUICK_PLAN if args.quick else SweepPlan(), window=args.window)
    if args.n_problems is not None:
        plan = replace(plan, n_problems=args.n_problems)
    if args.steps is not None:
        plan = replace(plan, steps=args.steps)
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
    to_train = plan.configs() if args.retrain else _not_shipped(plan.configs())
    seconds = sweep_seconds(plan, [c.steps for c in to_train.values()], args.workers)
    check_budget("sweep", seconds, "--steps or --n-problems (or use --workers)", args.allow_long)
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


def _not_shipped(configs: dict) -> dict:
    """The sweep's configs that no shipped model matches (as `sweep.load_shipped` decides), from the
    files' one-line headers: no weights loaded before the budget check."""
    from .model_files import ModelFileError, config_of, read_model_header
    from .sweep import SHIPPED

    missing = {}
    for name, config in configs.items():
        path = shipped_model_path(config.preset, name, SHIPPED)
        try:
            shipped = config_of(read_model_header(path)) if path.exists() else None
        except ModelFileError:
            shipped = None
        data = lambda c: (c.obs_every, c.obs_noise, c.observed)
        if shipped is None or data(shipped) != data(config):
            missing[name] = config
    return missing


def cmd_windows(args) -> int:
    from .terminal import use_colour
    from .windows import WINDOWS, format_windows, long_window_table

    windows = WINDOWS if args.windows is None else args.windows
    seconds = windows_seconds(args.n_problems, windows, timing=not args.no_timing)
    check_budget("windows", seconds, "--n-problems or --windows (or pass --no-timing)", args.allow_long)
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
