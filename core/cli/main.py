"""`python -m core`: reproduce the reference table, train / evaluate models, run the benchmarks.

Every subcommand that reports numbers prints them as JSON with `--json`. Bad arguments exit with
status 2 and one line naming the parameter and what is allowed, never a traceback, before any work;
so does a run whose estimate (`cli_budget`) is past the budget, unless `--allow-long`.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from core.cli import cycle as cycle_cli
from core.cli.arguments import (
    TRAIN_OBS_EVERY_MAX,
    CliError,
    check_obs_every,
    check_out_file,
    check_problems_memory,
    check_scheduler,
    emit,
    one_line,
)
from core.cli.budget import (
    bench_seconds,
    check_budget,
    evaluate_seconds,
    reproduce_seconds,
    sweep_seconds,
    train_seconds,
    windows_seconds,
)
from core.cli.parser import build_parser
from core.cli.window_system import system_settings
from core.nets.model_files import shipped_model_path


def main(argv: list[str] | None = None) -> int:
    """Run `python -m core ARGS`; the exit status: 0, 2 for a refused argument (one line on stderr,
    before any work), 130 if interrupted."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its one line (or the help): its status
        return exit_.code
    from core.nets.model_files import ModelFileError

    try:
        return COMMANDS[args.command](args)
    except (ValueError, ModelFileError, OSError, MemoryError, OverflowError, CliError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_reproduce(args) -> int:
    from core.studies.reproduce import reproduce

    check_obs_every(args.obs_every, args.window, "at most --window")
    if args.preset is None:
        args.preset = "seed" if args.system == "lorenz63" else "attractor"
    settings = system_settings(args)
    observed = _observed(args, settings)
    check_problems_memory("--n-problems", args.n_problems)
    check_budget(
        "reproduce",
        reproduce_seconds(args.n_problems, args.window, args.retrain, settings.get("n_variables", 3)),
        "--n-problems",
        args.allow_long,
    )
    payload = reproduce(
        T_assim=args.window,
        preset=args.preset,
        key=args.key,
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=observed,
        n_problems=args.n_problems,
        retrain=args.retrain,
        system_settings=settings,
        log=(lambda msg: print(msg, file=sys.stderr)),
    )
    from core.cli.terminal import use_colour
    from core.studies.reproduce import format_table

    emit(payload, args.json, format_table(payload, colour=use_colour()))
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from core.io.resources import check_memory, training_memory_bytes
    from core.nets.model_files import save_model
    from core.nets.training import REFERENCE_CONFIG, TrainingConfig, fit

    settings = system_settings(args)
    if args.model_rho_range is not None:
        if args.model_rho is not None or settings["system"] != "lorenz63":
            raise CliError("--model-rho-range: give it instead of --model-rho, with --system lorenz63")
        if len(args.model_rho_range) != 2:
            raise CliError(f"--model-rho-range must be two numbers LOW,HIGH; got {len(args.model_rho_range)}")
        settings["model_rho"] = tuple(sorted(args.model_rho_range))
    if args.observed is None:
        args.observed = [_observed(args, settings) or tuple(range(settings.get("n_variables", 3)))]
    if len(set(args.observed)) != len(args.observed):
        raise CliError(
            f"--observed lists a choice twice: {' '.join(''.join('xyz'[i] for i in o) for o in args.observed)}"
        )
    shortest = min(args.window)
    if shortest < TRAIN_OBS_EVERY_MAX:
        check_obs_every(args.obs_every, shortest, "at most the shortest --window")
    base = REFERENCE_CONFIG if args.reference else TrainingConfig()
    if args.reference and args.window != (50,):
        raise CliError("--window: the reference architecture is built for 50-step windows only")
    initial = None
    if args.init is not None:
        from core.nets.model_files import config_of, load_model

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
        **_training_system(settings),
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
    from core.nets.model_files import read_model_header
    from core.studies.reproduce import evaluate_model, format_evaluation

    read_model_header(args.model)  # a missing or foreign file is refused before any estimate or work
    check_obs_every(args.obs_every, args.window, "at most --window")
    settings = system_settings(args)
    check_problems_memory("--n-problems", args.n_problems)
    seconds = evaluate_seconds(args.n_problems, args.window, settings.get("n_variables", 3))
    check_budget("evaluate", seconds, "--n-problems", args.allow_long)
    payload = evaluate_model(
        args.model,
        T_assim=args.window,
        preset=args.preset,
        obs_every=args.obs_every,
        obs_noise=args.obs_noise,
        observed=_observed(args, settings),
        n_problems=args.n_problems,
        n_steps=args.n_steps,
        key=args.key,
        system_settings=settings,
    )
    emit(payload, args.json, format_evaluation(payload))
    return 0


def cmd_bench(args) -> int:
    from core.io.resources import bench_memory_bytes, check_memory
    from core.nets.model_files import load_model
    from core.studies.bench import format_bench, run_bench

    settings = system_settings(args)
    check_memory("--batch-size", args.batch_size, bench_memory_bytes(args.batch_size))
    seconds = bench_seconds(args.batch_size, args.window, settings.get("n_variables", 3))
    check_budget("bench", seconds, "--batch-size", args.allow_long)
    path = shipped_model_path("attractor")
    model = load_model(path)[0] if path.exists() and settings["system"] == "lorenz63" else None
    payload = run_bench(model, batch_size=args.batch_size, window=args.window, system_settings=settings)
    emit(payload, args.json, format_bench(payload))
    return 0


def cmd_sweep(args) -> int:
    from core.studies.sweep import QUICK_PLAN, SweepPlan, format_sweep, sweep

    settings = system_settings(args)
    if settings["system"] != "lorenz63" or set(settings) - {"system", "dt", "model_rho", "model_noise"}:
        raise CliError(
            "sweep: its axes (densities, noises, x/y/z components) and shipped models are Lorenz-63's; it takes "
            "--model-rho and --model-noise, not --system lorenz96, --obs-spacing or --observed-share"
        )
    mismatch = {k: v for k, v in settings.items() if k in ("model_rho", "model_noise")}
    plan = replace(QUICK_PLAN if args.quick else SweepPlan(), window=args.window, mismatch=mismatch)
    if args.n_problems is not None:
        plan = replace(plan, n_problems=args.n_problems)
    if args.steps is not None:
        plan = replace(plan, steps=args.steps)
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--scheduler and --workers exclude each other: give one")
    check_problems_memory("--n-problems", plan.n_problems)
    if args.workers is not None:
        from core.io.resources import check_memory, training_memory_bytes

        check_memory("--workers", args.workers, args.workers * training_memory_bytes(64))  # a process each
    if args.save_dir is not None:
        from core.io.resources import check_writable_dir

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
    from core.nets.model_files import ModelFileError, config_of, read_model_header
    from core.studies.sweep import SHIPPED

    missing = {}
    for name, config in configs.items():
        path = shipped_model_path(config.preset, name, SHIPPED)
        try:
            shipped = config_of(read_model_header(path)) if path.exists() else None
        except ModelFileError:
            shipped = None
        data = lambda c: (c.obs_every, c.obs_noise, c.observed, c.problem_settings())
        if shipped is None or data(shipped) != data(config):
            missing[name] = config
    return missing


def cmd_windows(args) -> int:
    from core.cli.terminal import use_colour
    from core.studies.windows import WINDOWS, format_windows, long_window_table

    windows = WINDOWS if args.windows is None else args.windows
    settings = system_settings(args)
    check_problems_memory("--n-problems", args.n_problems)
    seconds = windows_seconds(
        args.n_problems, windows, timing=not args.no_timing, n_variables=settings.get("n_variables", 3)
    )
    check_budget("windows", seconds, "--n-problems or --windows (or pass --no-timing)", args.allow_long)
    payload = long_window_table(
        n_problems=args.n_problems,
        windows=windows,
        key=args.key,
        timing=not args.no_timing,
        system_settings=settings,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    emit(payload, args.json, format_windows(payload, colour=use_colour()))
    return 0


def _observed(args, settings: dict):
    """--observed as given, xyz on Lorenz-63 when not given, None (all, or --obs-spacing's) on Lorenz-96."""
    if settings["system"] != "lorenz63":
        spacing = settings.get("obs_spacing", 1)
        return tuple(range(0, settings["n_variables"], spacing)) if args.command == "train" else None
    if args.observed is not None:
        return args.observed
    # Training has no operator but its observed choices: --obs-spacing becomes the variables it keeps.
    return tuple(range(0, 3, settings.get("obs_spacing", 1))) if args.command == "train" else (0, 1, 2)


def _training_system(settings: dict) -> dict:
    """TrainingConfig's system and mismatch fields from the flags' settings."""
    names = ("n_variables", "forcing", "model_rho", "model_forcing", "model_noise", "observed_share")
    return {"system": settings["system"], **{name: settings[name] for name in names if name in settings}}


COMMANDS = {
    "reproduce": cmd_reproduce,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "sweep": cmd_sweep,
    "bench": cmd_bench,
    "cycle": cycle_cli.command,
    "windows": cmd_windows,
}
