"""DAPPER's `mods/Lorenz63/sakov2012.py` twin experiment, with its expected scores beside it.

Lorenz-63, dt = 0.01, RK4; x, y, z observed every 25 steps with R = 2 I; truth and ensemble start
from N(x0, 2 I); DAPPER scores after a burn-in of 16 time units. The registry's cycled methods
carry this set-up's tuning as their defaults (core/methods/cycle_methods.py, ensemble.py).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from core._validate import check_range
from core.da.cycle import CycleSetup
from core.setups.problems import observed_mask
from core.systems.lorenz import Lorenz63Forward

# DAPPER's Lorenz-63 initial mean (mods/Lorenz63/__init__.py) and X0 = GaussRV(C=2, mu=x0).
SAKOV2012_X0 = (1.509, -1.531, 25.46)
SAKOV2012_X0_STD = math.sqrt(2.0)
SAKOV2012_BURN_IN_TIME = 16.0  # DAPPER: BurnIn = 4 * Tplot, Tplot = 4 time units
DT = 0.01
# Lorenz-63's shift for the climatology sums (`CycleSetup.clim_shift`).
_CLIM_SHIFT = np.array([0.0, 0.0, 23.5], np.float32)

# DAPPER's documented rmse.a (mods/Lorenz63/sakov2012.py, DAPPER 1.7.1) with the registry's default
# tuning; docs/dapper_sakov2012.py runs DAPPER itself on the same set-up (its own copy: DAPPER's venv
# has no JAX). Strong 4DVar has no DAPPER counterpart here (its Var4D fails on this set-up).
EXPECTED_RMSE_A = {"oi": 1.25, "var3d": 1.04, "enkf_sqrt": 0.60, "enkf_perturbed": 0.65, "ienks": 0.31}
# Model error's ranges (as the CLI's MODEL_RHO and MODEL_NOISE): a rho that keeps Lorenz-63 bounded,
# and the truth's additive noise as a variance per unit time.
MODEL_RHO_RANGE = (0.5, 100.0)
MODEL_NOISE_RANGE = (0.0, 100.0)
# No method needs another tuning than the registry's defaults (they are this set-up's).
TUNING: dict[str, dict[str, float]] = {}


def sakov2012(
    *,
    obs_every: int = 25,
    obs_noise: float = SAKOV2012_X0_STD,
    observed=(0, 1, 2),
    n_cycles: int = 1001,
    dt: float = DT,
    model_rho: float | None = None,
    model_noise: float = 0.0,
) -> CycleSetup:
    """DAPPER's `mods/Lorenz63/sakov2012.py`: dt 0.01, RK4, x y z observed every 25 steps, R = 2 I.

    DAPPER's `Ko = 1000` means 1001 analyses, hence the default `n_cycles`. The truth runs rho = 28;
    `model_rho` and `model_noise` make model error (the methods' rho, the truth's stochastic forcing).

    Arguments:
        obs_every: model steps between observations, 1 .. 1000.
        obs_noise: observation noise standard deviation (sqrt 2 in sakov2012), 0.01 .. 100.
        observed: observed components, e.g. (0, 1, 2) or (0,); or a 0/1 mask.
        n_cycles: number of analyses, 2 .. 1_000_000.
        dt: the model step, 0.001 .. 0.1 (a new value compiles once).
        model_rho: rho of the methods' model, 0.5 .. 100; None: the truth's 28 (no mismatch).
        model_noise: the truth's additive model noise Q, a variance per unit time, 0 .. 100.

    Returns:
        A `CycleSetup`.

    Raises:
        ValueError: a parameter is out of range; the message names it.
    """
    check_range("obs_every", obs_every, 1, 1000, integer=True)
    check_range("obs_noise", obs_noise, 0.01, 100.0)
    check_range("n_cycles", n_cycles, 2, 1_000_000, integer=True)
    check_range("dt", dt, 0.001, 0.1)
    if model_rho is not None:
        check_range("model_rho", model_rho, *MODEL_RHO_RANGE)
    check_range("model_noise", model_noise, *MODEL_NOISE_RANGE)
    truth_model = Lorenz63Forward(dt=dt)
    return CycleSetup(
        model=truth_model if model_rho is None else Lorenz63Forward(dt=dt, rho=float(model_rho)),
        truth_model=truth_model,
        model_noise=model_noise,
        obs_every=jnp.asarray(obs_every, jnp.int32),
        obs_noise=jnp.asarray(obs_noise, jnp.float32),
        observed=observed_mask(observed),
        x0_mean=jnp.array(SAKOV2012_X0, jnp.float32),
        x0_std=jnp.asarray(SAKOV2012_X0_STD, jnp.float32),
        clim_shift=jnp.asarray(_CLIM_SHIFT),
        n_cycles=int(n_cycles),
    )


def default_burn_in(obs_every: int, dt: float = DT) -> int:
    """DAPPER's burn-in (16 time units, strict `t > BurnIn`) as a number of leading cycles to skip."""
    return int(math.floor(SAKOV2012_BURN_IN_TIME / (obs_every * dt) + 1e-9))
