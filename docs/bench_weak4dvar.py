"""Time per window of weak-constraint 4DVar: the inner solve (block-tridiagonal elimination against
lineax CG) and the schedule (quasi-static against one Gauss-Newton solve), compile apart.

Lorenz-63 with T = 100 and Lorenz-96 (n = 40) with T = 200; every other variable observed every 4
steps, observation noise variance 2; the truth carries model noise of variance `q` per unit time,
which the solve is told. Each problem is solved once to compile and warm up, then `rounds` times,
the variants alternating within each round; we print per variant the median time per window, the
median Gauss-Newton steps, the statuses and the median RMSE against the truth.

    python docs/bench_weak4dvar.py [--problems 4] [--rounds 5]

Measured 2026-12-07 on the shared 2-core machine at load 6-8 (so times are ~3x a quiet machine's),
q = 0.1, float32, `--problems 3 --rounds 3` (Lorenz-63) and `--problems 1 --rounds 2 --no-lorenz63`:
- Lorenz-63 T=100: elimination, quasi-static 5.8 ms a window (9-11 steps, 3/3 converged, RMSE 0.155);
  elimination, one solve 2.8 ms (3-4 steps, 3/3, 0.155); lineax CG, quasi-static 1516 ms (1 failed,
  1 flagged, 1 converged). Compile: 7.3 s, 7.3 s, 11.0 s.
- Lorenz-96 n=40 T=200: both schedules hit the 300-step cap at RMSE ~4 (lost from the first 20 steps;
  1500 steps do no better): 66 s and 37 s a window, ~0.2 s a Gauss-Newton step. Not solved yet.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import core
from core.methods.weak4dvar import _weak_4dvar
from core.systems.lorenz96 import Lorenz96Forward

VARIANTS = {  # name: (inner solver, quasi-static)
    "elimination, quasi-static": ("block-tridiagonal", True),
    "elimination, one solve": ("block-tridiagonal", False),
    "lineax CG, quasi-static": ("cg", True),
}


def twin(system, n, T, seed, q=0.1, obs_noise=np.sqrt(2.0), background_std=1.0, spin_up=1000):
    """A truth with additive model noise of variance q per unit time, half its variables observed every 4 steps."""
    rng = np.random.default_rng(seed)
    state = np.asarray(system.advance(jnp.asarray(rng.normal(0.0, 1.0, n) + 1.0, jnp.float32), spin_up))
    truth = [state]
    for _ in range(T):
        truth.append(np.asarray(system.step(jnp.asarray(truth[-1]))) + np.sqrt(q * system.dt) * rng.normal(size=n))
    truth = np.array(truth, np.float32)
    mask = np.zeros_like(truth)
    mask[::4, ::2] = 1.0
    obs = mask * (truth + obs_noise * rng.normal(size=truth.shape))
    background = truth[0] + background_std * rng.normal(size=n)
    problem = core.Problem(
        truth=jnp.asarray(truth),
        obs=jnp.asarray(obs, jnp.float32),
        mask=jnp.asarray(mask),
        background_mean=jnp.asarray(background, jnp.float32),
        background_std=jnp.full(n, background_std, jnp.float32),
        obs_noise=jnp.asarray(obs_noise, jnp.float32),
        obs_every=jnp.asarray(4),
        dt=system.dt,
        T_assim=T,
        T_total=T,
        preset="attractor",
    )
    return problem


def solve(problem, system, q, variant):
    inner, quasi_static = VARIANTS[variant]
    analysis = _weak_4dvar(problem, system, jnp.asarray(q, jnp.float32), 300, inner, quasi_static)
    return jax.block_until_ready(analysis)


def bench(name, system, n, T, q, n_problems, rounds, variants=tuple(VARIANTS)):
    problems = [twin(system, n, T, seed, q) for seed in range(n_problems)]
    times = {v: [] for v in variants}
    results = {v: [] for v in variants}
    for variant in variants:
        start = time.perf_counter()
        solve(problems[0], system, q, variant)
        print(f"{name}: {variant}: first call (compile + solve) {time.perf_counter() - start:.1f} s", flush=True)
    for problem in problems:
        for variant in variants:
            results[variant].append(solve(problem, system, q, variant))  # warm (and the result)
        for _ in range(rounds):
            for variant in variants:
                start = time.perf_counter()
                solve(problem, system, q, variant)
                times[variant].append(time.perf_counter() - start)
    for variant in variants:
        done = results[variant]
        steps = [int(a.num_steps) for a in done]
        status = [core.describe_status(int(a.status)).split(" (")[0] for a in done]
        rmse = [float(jnp.sqrt(jnp.mean((a.window - p.truth) ** 2))) for a, p in zip(done, problems, strict=True)]
        print(
            f"{name}: {variant}: {1e3 * np.median(times[variant]):.1f} ms per window "
            f"(median of {len(times[variant])}), steps {np.median(steps):.0f} {steps}, "
            f"rmse median {np.median(rmse):.3f}, {status}",
            flush=True,
        )


def main(problems: int = 4, rounds: int = 5, lorenz63: bool = True):
    print(f"load before: {os.getloadavg()}, devices {jax.devices()}")
    if lorenz63:
        bench("Lorenz-63 T=100", core.Lorenz63Forward(), 3, 100, 0.1, problems, rounds)
    # CG is left out on Lorenz-96: on Lorenz-63 it already needs ~1.5 s a window and fails (see the docstring).
    variants = ("elimination, quasi-static", "elimination, one solve")
    bench("Lorenz-96 n=40 T=200", Lorenz96Forward(), 40, 200, 0.1, problems, rounds, variants)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=4, help="twins per system")
    parser.add_argument("--rounds", type=int, default=5, help="timed solves per problem and variant")
    parser.add_argument("--no-lorenz63", dest="lorenz63", action="store_false", help="Lorenz-96 only")
    main(**vars(parser.parse_args()))
