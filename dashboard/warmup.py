"""Warm the JIT before the first student arrives: `panel serve dashboard/app.py --setup dashboard/warmup.py`.

Compiles, once per server process, everything a slider can reach: both presets, every subset of
observed components, every 4DVar iteration cap, FourDVarNet for every listed model (K is traced,
so one K covers all), and the scoring. The listed models include the generalisation sweep's
(`assets/models/sweep/`), which is all a Generalisation-tab click can reach besides the density (traced):
they share one architecture, so they share one compile and each adds only a warm run
(tests/test_generalisation.py checks that switching between them compiles nothing). Also usable alone:
`python -m dashboard.warmup`.

Compiled programs are also written to the persistent JAX cache (`jitcache.py`), so a later start
of the server, or another process, loads them instead of compiling again. `WARM` is set once this
process has solved: the app then builds pages with their plots at once (before, the first page is
sent first and solved after, with a progress note).

Run as `--setup`, it also installs the Host/Origin guard (`guard.py`) before the server answers its
first request, and turns on Panel's session reuse (`serving.configure_server`).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from pathlib import Path

try:
    import dashboard  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.compute import ITERATION_CAPS, Settings, run_experiment, solve  # noqa: E402
from dashboard.jitcache import enable_compilation_cache  # noqa: E402
from dashboard.models import registry  # noqa: E402
from dashboard.plots import FIGURES  # noqa: E402
from dashboard.seeds import many_seeds  # noqa: E402

WARM = threading.Event()  # set once this process has solved (read by the app)


def warm_up(verbose: bool = True) -> float:
    """Run every compiled path once; returns the seconds it took."""
    start = time.perf_counter()
    cache = enable_compilation_cache()
    registry.refresh()
    subsets = [c for r in (1, 2, 3) for c in itertools.combinations((0, 1, 2), r)]
    settings = [Settings(preset=p, max_steps=cap) for p in ("attractor", "seed") for cap in ITERATION_CAPS]
    settings += [Settings(observed=s) for s in subsets]
    settings += [Settings(model=key) for key in registry.entries()]
    for s in settings:
        run_experiment(s)
    solve(Settings())  # the first page's result, in the shared result cache
    many_seeds(Settings())  # the "run on 100 seeds" button's batched programs
    FIGURES.fill()  # the Explore figures of the first pages, built before anyone asks
    elapsed = time.perf_counter() - start
    message = f"dashboard warm-up: {len(settings)} settings compiled in {elapsed:.1f} s (JIT cache: {cache})"
    if verbose:
        print(message, flush=True)
    WARM.set()
    return elapsed


if __name__ in ("__main__", "panel_setup_module"):  # `python -m dashboard.warmup` or `--setup`
    if __name__ == "panel_setup_module":
        from dashboard import serving

        serving.configure_server()  # the guard and session reuse, from the very first request
    warm_up()
    if __name__ == "panel_setup_module":  # run as a script: tell the imported module, which the app reads
        from dashboard import warmup as _shared

        _shared.WARM.set()
