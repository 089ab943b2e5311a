"""Warm the JIT before the first student arrives: `panel serve dashboard/app.py --setup dashboard/warmup.py`.

Compiles, once per server process, everything a slider can reach: both presets, every subset of
observed components, every 4DVar iteration cap, FourDVarNet for every listed model (K is traced,
so one K covers all), and the scoring. The listed models include the generalisation sweep's
(`assets/models/sweep/`), which is all a Generalisation-tab click can reach besides the density (traced):
they share one architecture, so they share one compile and each adds only a warm run
(tests/test_generalisation.py checks that switching between them compiles nothing). Also usable alone:
`python -m dashboard.warmup`.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

try:
    import dashboard  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.compute import ITERATION_CAPS, Settings, run_experiment  # noqa: E402
from dashboard.models import registry  # noqa: E402


def warm_up(verbose: bool = True) -> float:
    """Run every compiled path once; returns the seconds it took."""
    start = time.perf_counter()
    registry.refresh()
    subsets = [c for r in (1, 2, 3) for c in itertools.combinations((0, 1, 2), r)]
    settings = [Settings(preset=p, max_steps=cap) for p in ("attractor", "seed") for cap in ITERATION_CAPS]
    settings += [Settings(observed=s) for s in subsets]
    settings += [Settings(model=key) for key in registry.entries()]
    for s in settings:
        run_experiment(s)
    elapsed = time.perf_counter() - start
    message = f"dashboard warm-up: {len(settings)} settings compiled in {elapsed:.1f} s"
    if verbose:
        print(message, flush=True)
    return elapsed


if __name__ in ("__main__", "panel_setup_module"):  # `python -m dashboard.warmup` or `--setup`
    warm_up()
