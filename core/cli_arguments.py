"""The command line's shared pieces: argument types, one-line errors, and the checks every
subcommand runs on its flags (named as typed) before any work."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COMPONENTS = "xyz"


KEY_MAX = 2_000_000_000  # PRNG keys and seeds: JAX takes 32-bit keys (and some code adds to them)


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (`error: ...`), not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def components(text: str) -> tuple[int, ...]:
    if not text or any(c not in COMPONENTS for c in text) or len(set(text)) != len(text):
        raise argparse.ArgumentTypeError(
            f"observed must be letters among x, y, z without repeats (e.g. xyz, xz, x); got {text!r}"
        )
    return tuple(sorted(COMPONENTS.index(c) for c in text))


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas; got {text!r}") from None


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas; got {text!r}") from None


def window_argument(parser: argparse.ArgumentParser, what: str = "the window") -> None:
    parser.add_argument(
        "--window",
        type=int,
        default=50,
        help=f"{what}: its length in steps, 10..300 (0.1 to 3 time units; default: 50)",
    )


def problem_arguments(parser: argparse.ArgumentParser, *, preset_default="seed") -> None:
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
        type=components,
        default=(0, 1, 2),
        help="observed components, e.g. xyz, xz or x (default: xyz)",
    )


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or error.__class__.__name__
    return text


def check_flag(name: str, value, low, high=None, integer=True):
    from ._validate import check_range

    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**62:
        value = float(value)  # too large for numpy's integers: compare it as a float (a clear refusal)
    check_range(name, value, low, high, integer=integer)


def check_problem(args) -> None:
    """The test problem's flags, named as typed, before any work (observations at most one a window)."""
    windows = getattr(args, "window", 50)
    every_max = max(windows) if isinstance(windows, tuple) else windows
    if getattr(args, "key", None) is not None:
        check_flag("--key", args.key, 0, KEY_MAX)
    every = args.obs_every if isinstance(args.obs_every, tuple) else (args.obs_every,)
    noise = args.obs_noise if isinstance(args.obs_noise, tuple) else (args.obs_noise,)
    for value in every:
        check_flag("--obs-every", value, 1, every_max)
    for value in noise:
        check_flag("--obs-noise", value, 0.0, 100.0, integer=False)


def check_problems_memory(name: str, n_problems: int) -> None:
    from .resources import bench_memory_bytes, check_memory

    check_memory(name, n_problems, bench_memory_bytes(n_problems))


def check_out_file(flag: str, path: Path, force: bool) -> None:
    """`path` can be written (its folder exists or can be made, it is not a folder, --force if it exists)."""
    from .resources import check_writable_file

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
