"""Server compute of a Lorenz-96 move, without a browser: `python -m benchmarks.lorenz96_bench [--moves 5]`.

Two figures of issue 17's budgets, measured as the dashboard computes them (its own functions, not a
re-implementation), each a new seed per move so that no cache answers:
- Explore: `lorenz96_compute.run_experiment96` on the authors' set-up (200-step windows): every method;
- Cycle: `cycle_data.run_all` of the LETKF alone over 1000 cycles of sakov2008 (N 7, inflation 1.04, loc_rad 4).

The first call of each (a compile, reported apart) is not a move. Reports the median and the range of
the warm moves, in ms, with the machine's load. This is the server's share of a redraw: the browser's
drawing comes on top (benchmarks/pagebench.py measures the page in Chromium).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

from jax import monitoring

# JAX records this event once per program it lowers for compilation (tests/support.py counts the same).
LOWERING_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"


def _moves(call, settings_for, moves: int) -> dict:
    """{'compile_ms': the first call's, 'median_ms', 'min_ms', 'max_ms': over `moves` warm calls, and
    'programs_compiled_in_moves': what the warm moves compiled (0: no slider move recompiles)}."""
    start = time.perf_counter()
    call(settings_for(0))
    first_ms = (time.perf_counter() - start) * 1e3
    lowered = []

    def count(event: str, duration_s: float, **kwargs) -> None:
        if event == LOWERING_EVENT:
            lowered.append(duration_s)

    samples = []
    monitoring.register_event_duration_secs_listener(count)
    try:
        for move in range(1, moves + 1):
            start = time.perf_counter()
            call(settings_for(move))
            samples.append((time.perf_counter() - start) * 1e3)
    finally:
        monitoring.unregister_event_duration_listener(count)
    median = statistics.median(samples)
    return {
        "programs_compiled_in_moves": len(lowered),
        "compile_ms": round(max(first_ms - median, 0.0)),
        "median_ms": round(median, 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "moves": moves,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=5, help="warm moves per figure, 1..100 (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not 1 <= args.moves <= 100:
        parser.error(f"--moves must be within 1..100; got {args.moves}")

    from dashboard.data import cycle_data, lorenz96_compute
    from dashboard.data.cycle_setups import CycleSettings

    explore = _moves(
        lorenz96_compute.run_experiment96,
        lambda move: lorenz96_compute.Settings96(seed=1000 + move),
        args.moves,
    )
    letkf = CycleSettings(
        system="lorenz96", obs_every=1, obs_noise=1.0, ensemble_size=7, inflation=1.04, localisation_radius=4.0
    )
    cycle = _moves(
        lambda settings: cycle_data.run_all(("letkf",), settings),
        lambda move: dataclasses.replace(letkf, seed=1000 + move),
        args.moves,
    )
    result = {
        "explore_lorenz96_move": explore,
        "cycle_letkf_1000_cycles": cycle,
        "load_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name in ("explore_lorenz96_move", "cycle_letkf_1000_cycles"):
            r = result[name]
            print(
                f"{name}: median {r['median_ms']} ms [{r['min_ms']}, {r['max_ms']}] over {r['moves']} warm moves, "
                f"compile {r['compile_ms']} ms apart; {r['programs_compiled_in_moves']} programs compiled in the moves"
            )
        print(f"load {result['load_1min']} on {result['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
