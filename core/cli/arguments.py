"""The command line's shared pieces: each quantity's bounds (written once, used by every subcommand),
the argparse action that checks a flag as it is read, one-line errors, and the checks that need
several flags or the file system, run before any work."""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

COMPONENTS = "xyz"


@dataclass(frozen=True)
class Quantity:
    """A flag's allowed values: `low..high`, whole numbers or not, and at most `most` distinct values
    in a comma-separated list (1: a single value)."""

    low: float
    high: float
    integer: bool = True
    most: int = 1

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.most > 1:
            kind = f"up to {self.most} distinct {'whole numbers' if self.integer else 'numbers'}, separated by commas,"
        return f"{kind} {self.between()}"

    def between(self) -> str:
        shown = (lambda v: str(int(v))) if self.integer else (lambda v: f"{v:g}")
        return f"between {shown(self.low)} and {shown(self.high)}"

    def parse(self, text: str):
        """The value of `text` (a tuple if `most` > 1); `ValueError` says what is allowed."""
        parts = text.split(",") if self.most > 1 else [text]
        if len(parts) > self.most:  # counted before reading any: a list of a million values is refused at once
            raise ValueError(f"must be {self.describe()}; got {len(parts)} values")
        values = tuple(self._one(part.strip(), text) for part in parts)
        repeated = [v for v, count in Counter(values).items() if count > 1]
        if repeated:
            raise ValueError(f"must be {self.describe()}; got {repeated[0]} more than once")
        return values if self.most > 1 else values[0]

    def _one(self, part: str, text: str):
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        try:
            number = float(part) if not self.integer else int(part)
        except ValueError:
            number = None
            if self.integer:  # "1e3" or "5.0" are whole numbers too
                try:
                    as_float = float(part)
                    number = int(as_float) if math.isfinite(as_float) and as_float.is_integer() else None
                except (ValueError, OverflowError):
                    pass
            if number is None:
                raise ValueError(f"must be {self.describe()}; got {shown!r}") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"must be a finite number {self.between()}; got {shown!r}")
        if not self.low <= number <= self.high:  # Python compares any int exactly: no overflow
            raise ValueError(f"must be {self.describe()}; got {shown}")
        return number


# Each quantity once; every subcommand's flag for it checks against these. The dashboard's sliders
# (dashboard/state/explore.py, dashboard/state/cycle.py) offer sub-ranges of them.
KEY = Quantity(0, 2**32 - 2)  # a uint32 PRNG seed; runs also seed with key + 1, hence one less
OBS_EVERY = Quantity(1, 1000)  # model steps between observations; in a window, also at most its length
TRAIN_OBS_EVERY_MAX = 50  # training draws its densities up to this (core/nets/training.py)
OBS_NOISE = Quantity(0.01, 100.0, integer=False)  # std; 4DVar floors a smaller one at 0.01 (fourdvar.MIN_OBS_STD)
WINDOW = Quantity(10, 300)  # window length in steps (0.1 to 3 time units)
N_PROBLEMS = Quantity(1, 100_000)
TRAIN_STEPS = Quantity(0, 1_000_000)
TRAIN_BATCH = Quantity(1, 100_000)
BENCH_BATCH = Quantity(1, 1_000_000)  # generate_problems' own bound
LEARNING_RATE = Quantity(1e-7, 1.0, integer=False)
HIDDEN_DIM = Quantity(1, 512)
SOLVER_STEPS = Quantity(0, 100)  # FourDVarNet's K at inference
WORKERS = Quantity(1, 256)
ENSEMBLE_SIZE = Quantity(2, 1000)
INFLATION = Quantity(1.0, 3.0, integer=False)
LAG = Quantity(1, 50)
B_SCALE = Quantity(1e-4, 100.0, integer=False)
N_CYCLES = Quantity(10, 1_000_000)
BURN_IN = Quantity(0, N_CYCLES.high)  # and at most --n-cycles - 6 (checked with it)
DT = Quantity(0.001, 0.2, integer=False)  # the model step; RK4 stays stable on both systems well below 0.2
FORCING = Quantity(-100.0, 100.0, integer=False)  # Lorenz-96's F
OBS_SPACING = Quantity(1, 1000)  # observe every k-th variable; also at most the state's size
LOCALISATION_RADIUS = Quantity(0.1, 1000.0, integer=False)  # DAPPER's loc_rad, in grid spacings
# Model error (the methods' model against the truth's): Lorenz-63's rho keeps the attractor chaotic and
# bounded over this range; Lorenz-96's F shares FORCING's bounds; the truth's stochastic forcing is a
# variance per unit time.
MODEL_RHO = Quantity(0.5, 100.0, integer=False)
MODEL_FORCING = FORCING
MODEL_NOISE = Quantity(0.0, 100.0, integer=False)
# Weak 4DVar's assumed model-error variance per unit time (core/methods/weak4dvar.py's Q_MIN .. Q_MAX,
# from a q small enough to be strong 4DVar in float32 to one that swamps any attractor).
MODEL_ERROR_Q = Quantity(1e-6, 1e4, integer=False)


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`error: ...`), not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class Checked(argparse.Action):
    """Reads a flag's value and checks it against its `Quantity` as argparse meets it, so that a bad
    value stops the command before anything else: one line naming the flag as typed and its range.
    Help strings may say `%(range)s`."""

    def __init__(self, option_strings, dest, quantity: Quantity, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.quantity = quantity
        self.range = quantity.describe()

    def __call__(self, parser, namespace, text, option_string=None):
        try:
            value = self.quantity.parse(text)
        except ValueError as error:
            parser.error(f"{option_string} {error}")
        setattr(namespace, self.dest, value)


def checked(parser: argparse.ArgumentParser, flag: str, quantity: Quantity, **kwargs) -> None:
    """`parser.add_argument(flag, ...)` with its value checked against `quantity` as it is read."""
    parser.add_argument(flag, action=Checked, quantity=quantity, **kwargs)


def components(text: str) -> tuple[int, ...]:
    if not text or any(c not in COMPONENTS for c in text) or len(set(text)) != len(text):
        raise argparse.ArgumentTypeError(
            f"observed must be letters among x, y, z without repeats (e.g. xyz, xz, x); got {text!r}"
        )
    return tuple(sorted(COMPONENTS.index(c) for c in text))


def allow_long_argument(parser: argparse.ArgumentParser) -> None:
    from core.cli.budget import BUDGET_S

    parser.add_argument(
        "--allow-long",
        action="store_true",
        help=f"run even if the estimate before the run says it takes over {BUDGET_S / 60:g} minutes",
    )


def window_argument(parser: argparse.ArgumentParser, what: str = "the window") -> None:
    checked(
        parser,
        "--window",
        WINDOW,
        default=50,
        help=f"{what}: its length in steps, %(range)s (0.1 to 3 time units; default: %(default)s)",
    )


def problem_arguments(parser: argparse.ArgumentParser, *, preset_default="seed") -> None:
    parser.add_argument(
        "--preset",
        choices=("seed", "attractor"),
        default=preset_default,
        help="seed: the reference notebook's problem (truth near C+); attractor: truth "
        "on the attractor with a climatological background (default: %(default)s)",
    )
    checked(parser, "--key", KEY, default=42, help="PRNG key of the test problem, %(range)s (default: %(default)s)")
    checked(
        parser,
        "--obs-every",
        OBS_EVERY,
        default=5,
        help="observe every N-th step of the window, %(range)s and at most --window (default: %(default)s)",
    )
    checked(
        parser,
        "--obs-noise",
        OBS_NOISE,
        default=0.5,
        help="observation noise standard deviation, %(range)s (default: %(default)s)",
    )
    parser.add_argument(
        "--observed",
        type=components,
        default=(0, 1, 2),
        help="observed components, e.g. xyz, xz or x (default: xyz)",
    )


def model_error_arguments(parser: argparse.ArgumentParser) -> None:
    """`--model-rho`, `--model-forcing`, `--model-noise`: the methods' model and the truth's noise.

    Each defaults to None: no mismatch (the methods' model is the truth's system, without noise).
    Which of rho and forcing applies depends on `--system`; the command refuses the other's flag."""
    checked(
        parser,
        "--model-rho",
        MODEL_RHO,
        default=None,
        help="Lorenz-63's rho in the methods' model, %(range)s; the truth keeps 28 (default: the truth's)",
    )
    checked(
        parser,
        "--model-forcing",
        MODEL_FORCING,
        default=None,
        help="Lorenz-96's F in the methods' model, %(range)s; the truth keeps its --forcing (default: the truth's)",
    )
    checked(
        parser,
        "--model-noise",
        MODEL_NOISE,
        default=None,
        help="the truth's additive model noise, a variance per unit time, %(range)s; the methods' model "
        "has none (default: 0)",
    )


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or error.__class__.__name__
    return text


def check_obs_every(values, highest: int, why: str) -> None:
    """Every value of --obs-every at most `highest` (a window's length, or training's limit)."""
    values = values if isinstance(values, tuple) else (values,)
    for value in values:
        if value > highest:
            raise CliError(f"--obs-every must be between 1 and {highest} ({why}); got {value}")


def check_problems_memory(name: str, n_problems: int) -> None:
    from core.io.resources import bench_memory_bytes, check_memory

    check_memory(name, n_problems, bench_memory_bytes(n_problems))


def check_out_file(flag: str, path: Path, force: bool) -> None:
    """`path` can be written (its folder exists or can be made, it is not a folder, --force if it exists)."""
    from core.io.resources import check_writable_file

    try:
        check_writable_file(path)
    except OSError as error:
        raise CliError(f"{flag} {path}: {error}") from None
    if path.exists() and not force:
        raise CliError(f"{flag} {path} exists; pass --force to overwrite it")


def check_scheduler(address: str, timeout_s: float = 3.0) -> None:
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


def emit(payload: dict, as_json: bool, table: str) -> None:
    print(json.dumps(payload, indent=2, default=json_default) if as_json else table)


def json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value)
