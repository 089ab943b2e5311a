"""Our scores on DAPPER's Lorenz-96 `sakov2008` set-up (core/setups/sakov2008.py), each method with DAPPER's tuning.

    python docs/sakov2008_scores.py                       # every method, 2000 cycles, seeds 0 and 1
    python docs/sakov2008_scores.py --n-cycles 5000 --methods letkf oi --seeds 0 1 2

Prints one line per method and seed: rmse_a (DAPPER's time average after its burn-in of 20 time
units), the documented rmse_a, the analysis spread, whether the run diverged, and the median warm time
per cycle with the compile time apart (`core.time_cycle`). A diverged run is said, not hidden.
"""

from __future__ import annotations

import argparse

import jax

import core
from core.methods.cycle_methods import CycledOI, CycledStrong4DVar, CycledVar3D
from core.methods.ensemble import LETKF, EnKFPerturbed, EnKFSqrt, IEnKS
from core.setups.sakov2008 import EXPECTED_RMSE_A, burn_in, sakov2008

BUILD = {
    "oi": lambda o: CycledOI(),
    "var3d": lambda o: CycledVar3D(o["b_scale"]),
    "enkf_sqrt": lambda o: EnKFSqrt(o["n_members"], o["inflation"], o["rotate"]),
    "enkf_perturbed": lambda o: EnKFPerturbed(o["n_members"], o["inflation"]),
    "letkf": lambda o: LETKF(o["n_members"], o["inflation"], o["rotate"], o["localisation_radius"]),
    "ienks": lambda o: IEnKS(o["n_members"], o["inflation"], o["rotate"], lag=1),
    "strong_4dvar": lambda o: CycledStrong4DVar(o["b_scale"], o["lag"]),
}


def main(n_cycles: int = 2000, methods=tuple(BUILD), seeds=(0, 1)) -> None:
    for name in methods:
        documented, options = EXPECTED_RMSE_A[name]
        every = options.get("obs_every", 1)
        setup = sakov2008(obs_every=every, n_cycles=n_cycles)
        for seed in seeds:
            truth = core.simulate(setup, jax.random.PRNGKey(seed))
            method = BUILD[name](options)
            record, ms, compile_s = core.time_cycle(method, setup, truth, jax.random.PRNGKey(100 + seed), repeats=1)
            s = core.cycle_scores(record, truth, burn_in(every))
            print(
                f"{name:15s} seed {seed}: rmse_a {s['rmse_a']:.3f} (documented {documented}) "
                f"spread {s['spread_a']:.3f} diverged {s['diverged']} {ms:.3f} ms/cycle (compile {compile_s:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cycles", type=int, default=2000)
    parser.add_argument("--methods", nargs="+", choices=list(BUILD), default=list(BUILD))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    main(args.n_cycles, args.methods, args.seeds)
