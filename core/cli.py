"""`python -m core`: reproduce the reference table, train / evaluate models, run the benchmarks.

Every subcommand that reports numbers prints them as JSON with `--json`. Bad arguments exit with
status 2 and one line naming the parameter and what is allowed, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from . import cycle_cli
from .training import shipped_model_path

COMPONENTS = "xyz"


KEY_MAX = 2_000_000_000  # PRNG keys and seeds: JAX takes 32-bit keys (and some code adds to them)


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`error: ...`), not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _components(text: str) -> tuple[int, ...]:
    if not text or any(c not in COMPONENTS for c in text) or len(set(text)) != len(text):
        raise argparse.ArgumentTypeError(
            f"observed must be letters among x, y, z without repeats (e.g. xyz, xz, x); got {text!r}"
        )
    return tuple(sorted(COMPONENTS.index(c) for c in text))


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}") from None


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas; got {text!r}") from None


def _window_argument(parser: argparse.ArgumentParser, what: str = "the window") -> None:
    parser.add_argument(
        "--window",
        type=int,
        default=50,
        help=f"{what}: its length in steps, 10..300 (0.1 to 3 time units; default: 50)",
    )


def _problem_arguments(parser: argparse.ArgumentParser, *, preset_default="seed") -> None:
    parser.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default=preset_default,
        help="seed: the reference notebook's problem (truth near C+); attractor: truth "
        "on the attractor with a climatological background (default: %(default)s)",
    )
    parser.add_argument("--key", type=int, default=42, help="PRNG key of the test problem (default: 42)")
    parser.add_argument(
        "--obs-every",
        type=int,
        default=5,
        help="observe every N-th step of the window, 1 <= N <= its length (default: 5)",
    )
    parser.add_argument(
        "--obs-noise",
        type=float,
        default=0.5,
        help="observation noise standard deviation, >= 0 (default: 0.5)",
    )
    parser.add_argument(
        "--observed",
        type=_components,
        default=(0, 1, 2),
        help="observed components, e.g. xyz, xz or x (default: xyz)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m core",
        description="Lorenz-63 twin experiments: strong-constraint 4DVar against FourDVarNet.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reproduce", help="the reference notebook's table, for one key and over many problems")
    _problem_arguments(p)
    _window_argument(p)
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
        type=_int_list,
        default=(5,),
        help="training density; several comma-separated values train on a mix (default: 5)",
    )
    p.add_argument(
        "--obs-noise",
        type=_float_list,
        default=(0.5,),
        help="training noise std; several comma-separated values train on a mix (default: 0.5)",
    )
    p.add_argument(
        "--observed",
        type=_components,
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
        type=_int_list,
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
    p.add_argument("--observed", type=_components, default=(0, 1, 2), help="test components (default: xyz)")
    p.add_argument("--n-problems", type=int, default=256, help="number of test problems (default: 256)")
    p.add_argument("--n-steps", type=int, default=None, help="solver steps K at inference (default: as trained)")
    p.add_argument("--key", type=int, default=2026, help="PRNG key of the test set (default: 2026)")
    _window_argument(p, "the test window (4DVar: Gauss-Newton up to 50 steps, quasi-static beyond)")
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
    _window_argument(p, "the test window (the models are trained on 50-step windows)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("windows", help="the Long windows table: 4DVar solvers and FourDVarNets at 25..300 steps")
    p.add_argument("--n-problems", type=int, default=64, help="test problems per window (default: 64)")
    p.add_argument(
        "--windows", type=_int_list, default=None, help="window lengths, 10..300 (default: 25,50,100,200,300)"
    )
    p.add_argument("--key", type=int, default=2026, help="PRNG key of the test set (default: 2026)")
    p.add_argument("--no-timing", action="store_true", help="scores only, no timings (faster)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("bench", help="the speed budgets (README, Budgets): 4DVar and FourDVarNet timed side by side")
    p.add_argument("--batch-size", type=int, default=1024, help="batch size of the vmapped runs (default: 1024)")
    _window_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    cycle_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .training import ModelFileError

    try:
        return COMMANDS[args.command](args)
    except (ValueError, ModelFileError, OSError, MemoryError, OverflowError, CliError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or error.__class__.__name__
    return text


def _check(name: str, value, low, high=None, integer=True):
    from ._validate import check_range

    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**62:
        value = float(value)  # too large for numpy's integers: compare it as a float (a clear refusal)
    check_range(name, value, low, high, integer=integer)


def _check_problem(args) -> None:
    """The test problem's flags, named as typed, before any work (observations at most one a window)."""
    windows = getattr(args, "window", 50)
    every_max = max(windows) if isinstance(windows, tuple) else windows
    if getattr(args, "key", None) is not None:
        _check("--key", args.key, 0, KEY_MAX)
    every = args.obs_every if isinstance(args.obs_every, tuple) else (args.obs_every,)
    noise = args.obs_noise if isinstance(args.obs_noise, tuple) else (args.obs_noise,)
    for value in every:
        _check("--obs-every", value, 1, every_max)
    for value in noise:
        _check("--obs-noise", value, 0.0, 100.0, integer=False)


def _check_problems_memory(name: str, n_problems: int) -> None:
    from .resources import bench_memory_bytes, check_memory

    check_memory(name, n_problems, bench_memory_bytes(n_problems))


def _check_out_file(flag: str, path: Path, force: bool) -> None:
    """`path` can be written (its folder exists or can be made, it is not a folder, --force if it exists)."""
    from .resources import check_writable_file

    try:
        check_writable_file(path)
    except OSError as error:
        raise CliError(f"{flag} {path}: {error}") from None
    if path.exists() and not force:
        raise CliError(f"{flag} {path} exists; pass --force to overwrite it")


def _check_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """A Dask scheduler answers at `address` (`tcp://host:port`), checked before any work."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if parsed.scheme not in ("tcp", "tls", "ws", "wss") or not host or not port:
        raise CliError(f"--scheduler must look like tcp://HOST:PORT; got {address!r}")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise CliError(f"--scheduler {address}: no Dask scheduler answers there ({reason})") from None


def _emit(payload: dict, as_json: bool, table: str) -> None:
    print(json.dumps(payload, indent=2, default=_json_default) if as_json else table)


def _json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value)


def cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    _check_problem(args)
    _check("--n-problems", args.n_problems, 0, 100_000)
    _check_problems_memory("--n-problems", args.n_problems)
    _check("--window", args.window, 10, 300)
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

    _emit(payload, args.json, format_table(payload, colour=use_colour()))
    return 0


def cmd_train(args) -> int:
    from tqdm import tqdm

    from .resources import check_memory, training_memory_bytes
    from .training import REFERENCE_CONFIG, TrainingConfig, fit, save_model

    _check_problem(args)
    if args.steps is not None:
        _check("--steps", args.steps, 0, 1_000_000)
    if args.batch_size is not None:
        _check("--batch-size", args.batch_size, 1, 100_000)
    if args.learning_rate is not None:
        _check("--learning-rate", args.learning_rate, 1e-7, 1.0, integer=False)
    _check("--seed", args.seed, 0, KEY_MAX)
    _check("--window", list(args.window), 10, 300)
    base = REFERENCE_CONFIG if args.reference else TrainingConfig()
    if args.reference and args.window != (50,):
        raise CliError("--window: the reference architecture is built for 50-step windows only")
    initial = None
    if args.init is not None:
        from .training import config_of, load_model

        if args.reference:
            raise CliError("--init fine-tunes our FourDVarNet; it does not apply with --reference")
        initial, header = load_model(args.init, architecture="fourdvarnet")
        base = TrainingConfig(hyperparameters=config_of(header).hyperparameters)
    hyper = dict(base.hyperparameters)
    if args.hidden_dim is not None:
        _check("--hidden-dim", args.hidden_dim, 1, 512)
        hyper["hidden_dim"] = args.hidden_dim
    batch_size = base.batch_size if args.batch_size is None else args.batch_size
    check_memory("--batch-size", batch_size, training_memory_bytes(batch_size))
    _check_out_file("--out", args.out, args.force)
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

    _check_problem(args)
    _check("--n-problems", args.n_problems, 1, 100_000)
    _check_problems_memory("--n-problems", args.n_problems)
    if args.n_steps is not None:
        _check("--n-steps", args.n_steps, 0, 100)
    _check("--window", args.window, 10, 300)
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
    _emit(payload, args.json, format_evaluation(payload))
    return 0


def cmd_bench(args) -> int:
    from .bench import format_bench, run_bench
    from .resources import bench_memory_bytes, check_memory
    from .training import load_model

    _check("--batch-size", args.batch_size, 1, 1_000_000)  # generate_problems' own bound
    check_memory("--batch-size", args.batch_size, bench_memory_bytes(args.batch_size))
    _check("--window", args.window, 10, 300)
    path = shipped_model_path("attractor")
    model = load_model(path)[0] if path.exists() else None
    payload = run_bench(model, batch_size=args.batch_size, window=args.window)
    _emit(payload, args.json, format_bench(payload))
    return 0


def cmd_sweep(args) -> int:
    import dataclasses

    from .sweep import QUICK_PLAN, SweepPlan, format_sweep, sweep

    plan = QUICK_PLAN if args.quick else SweepPlan()
    _check("--window", args.window, 10, 300)
    plan = dataclasses.replace(plan, window=args.window)
    if args.n_problems is not None:
        _check("--n-problems", args.n_problems, 1, 100_000)
        plan = dataclasses.replace(plan, n_problems=args.n_problems)
    if args.steps is not None:
        _check("--steps", args.steps, 0, 1_000_000)
        plan = dataclasses.replace(plan, steps=args.steps)
    if args.workers is not None:
        _check("--workers", args.workers, 1, 256)
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--scheduler and --workers exclude each other: give one")
    _check_problems_memory("--n-problems", plan.n_problems)
    if args.save_dir is not None:
        from .resources import check_writable_dir

        try:
            check_writable_dir(args.save_dir)
        except OSError as error:
            raise CliError(f"--save-dir {args.save_dir}: {error}") from None
    if args.scheduler is not None:
        _check_scheduler(args.scheduler)
    payload = sweep(
        plan,
        use_shipped=not args.retrain,
        scheduler=args.scheduler,
        workers=args.workers,
        save_dir=args.save_dir,
        overwrite=args.force,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    _emit(payload, args.json, format_sweep(payload))
    return 0


def cmd_windows(args) -> int:
    from .terminal import use_colour
    from .windows import WINDOWS, format_windows, long_window_table

    _check("--n-problems", args.n_problems, 1, 100_000)
    windows = WINDOWS if args.windows is None else args.windows
    _check("--windows", list(windows), 10, 300)
    payload = long_window_table(
        n_problems=args.n_problems,
        windows=windows,
        key=args.key,
        timing=not args.no_timing,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    _emit(payload, args.json, format_windows(payload, colour=use_colour()))
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
