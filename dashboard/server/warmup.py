"""Warm the JIT before the first student arrives: `panel serve dashboard/app.py --setup dashboard/server/warmup.py`.

Pages first (issue 20). Before the server answers, only what the first page needs
(`warm_classroom_first_page`: the models, the default result, stored by an earlier start or solved,
the Explore figures of the first pages, one page rehearsed). Then, in a background thread, everything
else a slider can reach (`rest_of_warm_up`): both presets at every 4DVar iteration cap, every subset
of observed components, FourDVarNet for every listed model (K is traced, so one K covers all), every
window length (a length is a shape: each compiles once) on both presets, the Landscape tab at every
length (its grid and 4DVar paths are padded to 300 steps: one compile for all; FourDVarNet's path
compiles per length), the 100-seeds button, the Cycle tab (its default run on Lorenz-63 and on
Lorenz-96) and the Train tab's default training. Each
of those compiles starts only once no page is being built or move solved in this server
(`pagefirst.PAGE_WORK.wait_quiet`): a page opened during the warm-up competes with one compile at
most, and what it needs that is not compiled yet it compiles itself, as without the warm-up.
`python -m dashboard.server.warmup` compiles it all before it returns.

The listed models include the generalisation sweep's (`assets/models/sweep/`), which is all a
Generalisation-tab click can reach besides the density (traced): they share one architecture, so
they share one compile and each adds only a warm run (tests/test_generalisation.py checks that
switching between them compiles nothing). Also usable alone: `python -m dashboard.server.warmup`.

Compiled programs are also written to the persistent JAX cache (`jitcache.py`), so a later start
of the server, or another process, loads them instead of compiling again. `WARM` is set once this
process has solved: the app then builds pages with their plots at once. Without `--setup`, the
first page starts `warm_first_page` in a background thread and shows its progress until it is done
(`serving.serve_while_warming`).

Run as `--setup`, it also installs the Host/Origin guard (`guard.py`) before the server answers its
first request, and turns on Panel's session reuse (`serving.configure_server`).
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

try:
    import dashboard  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.io.paths import REPOSITORY, write_atomically  # noqa: E402
from dashboard.data import landscape_data  # noqa: E402
from dashboard.data.compute import (  # noqa: E402
    ITERATION_CAPS,
    WINDOWS,
    Settings,
    prepare,
    run_experiment,
    solve,
    solve_arguments,
    solved_methods,
)
from dashboard.data.cycle_data import CycleSettings  # noqa: E402
from dashboard.data.cycle_data import warm as cycle_warm  # noqa: E402
from dashboard.data.jitcache import cache_dir, enable_compilation_cache  # noqa: E402
from dashboard.data.seeds import many_seeds  # noqa: E402
from dashboard.figures.figure_pool import FIGURES  # noqa: E402
from dashboard.server.pagefirst import PAGE_WORK, one_process_compiles  # noqa: E402
from dashboard.server.panel_compat import forget_periodic_callbacks  # noqa: E402
from dashboard.state.cycle import DEFAULT_METHODS, default_run  # noqa: E402
from dashboard.training import train_queue  # noqa: E402
from dashboard.training.models import registry  # noqa: E402
from dashboard.training.train_worker import worker_command  # noqa: E402

ROOT = REPOSITORY  # the worker imports this very `dashboard`
TRAINING_WARM_TIMEOUT_S = 600

log = logging.getLogger(__name__)

WARM = threading.Event()  # set once this process has solved (read by the app)


def warm_first_page(progress=lambda stage, fraction: None) -> bool:
    """Just what the first page needs (models, the default problem's result, the page's module).

    Run in a background thread by the first light page of a plain `panel serve` (`serving.py`);
    `progress(stage, fraction)` is told each stage. The first page's result comes from the store an
    earlier start of this code left (`load_first_result`); otherwise it is solved here, compiling
    the solvers (or loading them from the persistent JAX cache, `jitcache.py`), and stored.

    Returns:
        True if the result came from the store (the solvers are then still cold: `warm_solvers`).
    """
    stored = prepare_first_page(progress)
    if not stored:
        solve_first_page(progress)
    return stored


def prepare_first_page(progress=lambda stage, fraction: None) -> bool:
    """The quick part of `warm_first_page`: models and the stored result; True if the page is ready."""
    progress("loading the trained models", 0.45)
    enable_compilation_cache()
    registry.refresh()
    if not load_first_result():
        return False
    _page_module(progress)
    return True


def solve_first_page(progress=lambda stage, fraction: None) -> None:
    """The slow part of `warm_first_page` (no stored result): solve, compiling the first time; store it."""
    progress("compiling the solvers (the first start only; later starts load them)", 0.55)
    store_first_result(solve(Settings()))
    _page_module(progress)


def _page_module(progress) -> None:
    progress("building the page", 0.9)
    import dashboard.app  # noqa: F401 - the page's module (its import is the last slow part)

    WARM.set()


def rehearse_page() -> float:
    """Build one page outside any session and drop it; returns seconds.

    The first page a process builds pays ~0.3 s of one-time costs (Panel's and Bokeh's first models
    of each kind, the template compiled) that later pages do not: run before the server answers
    (`serving.Warming.preload`), they are not part of the first student's wait.
    """
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    import dashboard.app as page

    start = time.perf_counter()
    document = Document()
    with set_curdoc(document):
        template, _ = page.create_app()
        template.server_doc(document)
    forget_periodic_callbacks(document)  # (they never started: no session, no loop)
    return time.perf_counter() - start


def warm_solvers() -> float:
    """Load (or compile) the default problem's solvers, without touching the shared results; seconds.

    After a first page drawn from the store, so that the first slider move does not wait for them.
    """
    start = time.perf_counter()
    run_experiment(Settings())
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The first page's result, kept across starts beside the JAX cache. It is what this same code
# computes for the default settings and model files (the key holds them, the source of `core` and
# of the dashboard's numerics, and the library versions): a restart draws its first page from it
# at once instead of waiting ~1-2 s for the solvers to be traced and loaded. The times in its table
# are the warm runtimes measured by the process that solved it, on this machine.

FIRST_RESULT_FILE = "first-page.pkl"
_KEYED_SOURCES = ("core/**/*.py", "dashboard/data/compute.py", "dashboard/training/models.py")


def _first_result_path() -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder.parent / FIRST_RESULT_FILE


def first_result_key(settings: Settings = Settings()) -> str:
    """A digest of everything the default result depends on (settings, model file, code, libraries)."""
    import hashlib
    from importlib import metadata

    digest = hashlib.sha256()
    args = solve_arguments(settings)
    digest.update(repr((args, registry.entries()[args[7]].label)).encode())
    for package in ("jax", "jaxlib", "equinox", "optimistix", "lineax", "numpy"):
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            pass
    root = REPOSITORY
    for pattern in _KEYED_SOURCES:
        for path in sorted(root.glob(pattern)):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def load_first_result() -> bool:
    """Hand `solve` the stored default result if it matches this code and these files; True if so."""
    path = _first_result_path()
    if path is None or not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            stored = pickle.load(f)  # (this user's own cache folder, written by `store_first_result`)
        if stored.get("key") != first_result_key():
            return False
        prepare(Settings(), stored["experiment"])
        return True
    except Exception as exc:  # noqa: BLE001 - a stale or broken file only means solving again
        log.info("first page's stored result not used: %s", exc)
        return False


def store_first_result(experiment) -> None:
    """Keep the default result for the next start (atomically; silently skipped when it cannot be written)."""
    path = _first_result_path()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, pickle.dumps({"key": first_result_key(), "experiment": experiment}))
    except Exception as exc:  # noqa: BLE001
        log.info("first page's result not stored: %s", exc)


def warm_classroom_first_page(verbose: bool = True) -> float:
    """What the first page needs, before the server answers: the models, the default result (stored
    by an earlier start, or solved: compiled on a fresh cache), the Explore figures of the first
    pages (`FIGURES.fill`) and one page built and dropped. Returns the seconds it took."""
    start = time.perf_counter()
    cache = enable_compilation_cache()
    registry.refresh()
    with one_process_compiles():  # the other server process then finds the stored result
        if load_first_result():
            solve(Settings())  # the stored result, into the shared result cache
        else:
            store_first_result(solve(Settings()))
    FIGURES.fill()  # the Explore figures of the first pages, built before anyone asks
    rehearse_page()
    WARM.set()
    elapsed = time.perf_counter() - start
    if verbose:
        print(f"dashboard warm-up: the first page ready in {elapsed:.1f} s (JIT cache: {cache})", flush=True)
    return elapsed


def rest_of_warm_up() -> list[tuple[str, object]]:
    """Everything else a slider can reach, as (what, a call compiling it): the default solvers (cold
    after a stored first result), both presets at every 4DVar cap, every subset of observed
    components, every listed model, the 100-seeds button, the Cycle tab's default run, every window
    length (Explore on both presets; the Landscape), and the Train tab's default training."""
    subsets = [c for r in (1, 2, 3) for c in itertools.combinations((0, 1, 2), r)]
    settings = [Settings()]
    settings += [Settings(preset=p, max_steps=cap) for p in ("attractor", "seed") for cap in ITERATION_CAPS]
    settings += [Settings(observed=s) for s in subsets]
    settings += [Settings(model=key) for key in registry.entries()]
    settings += [Settings(methods=solved_methods())]  # every method a student may tick in "Shown" (weak 4DVar, ...)
    default = Settings().window
    settings += [Settings(preset=p, window=w) for w in WINDOWS if w != default for p in ("attractor", "seed")]
    units: list[tuple[str, object]] = [(f"explore {s}", partial(run_experiment, s)) for s in dict.fromkeys(settings)]
    # Lorenz-96's default page (one unit: its other settings are traced; another window length compiles
    # on first use).
    from dashboard.data.lorenz96_compute import Settings96, run_experiment96

    units.append(("explore Lorenz-96, the authors' set-up", partial(run_experiment96, Settings96())))
    units.append(("the 100-seeds button", partial(many_seeds, Settings())))
    units.append(("the Cycle tab", partial(cycle_warm, CycleSettings(), DEFAULT_METHODS)))
    methods_96, settings_96 = default_run("lorenz96")
    units.append(("the Cycle tab on Lorenz-96", partial(cycle_warm, settings_96, methods_96)))
    for w in WINDOWS:  # the Landscape tab, first opened at any length (its paths: weak 4DVar's too)
        units.append(
            (f"landscape grid, window {w}", partial(landscape_data.compute_grid, Settings(window=w), "x-z", 3.0))
        )
        units.append((f"landscape paths, window {w}", partial(landscape_data.compute_paths, Settings(window=w))))
    units.append((TRAINING_UNIT, warm_training))
    return units


TRAINING_UNIT = "the Train tab's default training"  # last: a niced worker process, minutes on a fresh cache
PAGES_WARM = "dashboard warm-up: every page's programs compiled"  # printed before the training's compile


WARM_DONE = threading.Event()  # set once `warm_rest` has compiled everything
WARM_UP_ENV = "L63_WARM_UP"  # "first-page": the server compiles nothing ahead beyond the first page


def warm_rest_wanted() -> bool:
    """Whether a served dashboard compiles `rest_of_warm_up` in the background (the default). With
    `L63_WARM_UP=first-page` it does not: each page compiles what it reaches, as it would before the
    warm-up got there (a laptop demo that should stay quiet, or the browser tests, which check pages
    and would otherwise share their two cores with ~2 minutes of compiles)."""
    chosen = os.environ.get(WARM_UP_ENV, "all").strip().lower()
    if chosen not in ("all", "first-page"):
        log.warning("%s=%r is neither 'all' nor 'first-page': compiling everything ahead", WARM_UP_ENV, chosen)
    return chosen != "first-page"


def warm_rest(verbose: bool = True) -> float:
    """Compile `rest_of_warm_up()`, one after the other, each once no page is being built or move
    solved in this server (`pagefirst.PAGE_WORK.wait_quiet`: pages first). Returns the seconds it took."""
    start = time.perf_counter()
    units = rest_of_warm_up()
    for what, compile_it in units:
        if what == TRAINING_UNIT and verbose:
            print(f"{PAGES_WARM} in {time.perf_counter() - start:.1f} s", flush=True)
        with one_process_compiles():
            waited = PAGE_WORK.wait_quiet()
            began = time.perf_counter()
            try:
                compile_it()
            except Exception:  # noqa: BLE001 - a page compiles it on demand instead; the terminal says why
                log.warning("warm-up: %s could not be compiled ahead", what, exc_info=True)
        log.info("warm-up: %s in %.1f s (after %.1f s waiting for pages)", what, time.perf_counter() - began, waited)
    elapsed = time.perf_counter() - start
    WARM_DONE.set()
    if verbose:
        print(
            f"dashboard warm-up: the rest ({len(units)} programs) compiled in {elapsed:.1f} s, "
            f"{PAGE_WORK.waited_s:.1f} s of it waiting for pages",
            flush=True,
        )
    return elapsed


def warm_up(verbose: bool = True) -> float:
    """The whole warm-up, in the calling thread: the first page, then the rest; returns the seconds."""
    return warm_classroom_first_page(verbose) + warm_rest(verbose)


def warm_training(verbose: bool = True) -> float:
    """Compile the Train tab's default training and its verdict into the persistent JAX cache, in a
    niced worker as a training runs (`train_worker.py --warm`), so that the first student's training
    does not pay for the compile. Both server processes call it; a lock in the user's cache lets the
    second one wait and then find everything compiled. Returns the seconds it took."""
    start = time.perf_counter()
    folder = train_queue.queue_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "warm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            worker_command("--warm"),
            cwd=ROOT,
            capture_output=True,
            timeout=TRAINING_WARM_TIMEOUT_S,
        )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        print(f"dashboard warm-up: the default training could not be compiled ahead: {done.stderr[-500:]!r}")
    elif verbose:
        print(f"dashboard warm-up: the Train tab's default training compiled in {elapsed:.1f} s", flush=True)
    return elapsed


if __name__ in ("__main__", "panel_setup_module"):  # `python -m dashboard.server.warmup` or `--setup`
    if __name__ == "panel_setup_module":
        from dashboard.server import pagefirst, serving

        serving.configure_server()  # the guard and session reuse, from the very first request
        pagefirst.watch_sessions()  # (Panel's session hooks: before the first session)
        serving.WARMING.claim("preparing the first page (the classroom warm-up)")
    warm_classroom_first_page()
    if __name__ == "panel_setup_module":  # run as a script: tell the imported module, which the app reads
        import dashboard.app  # noqa: F401 - the page's module, so that the first page is built at once
        from dashboard.server import serving
        from dashboard.server import warmup as _shared

        _shared.WARM.set()
        serving.page_ready()  # every page is the full one from the first
        # Pages first: the rest compiles in the background, waiting whenever a page is built.
        if warm_rest_wanted():
            threading.Thread(target=_shared.warm_rest, name="l63-warm-rest", daemon=True).start()
    else:
        warm_rest()
