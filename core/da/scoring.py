"""Scores: a window or an initial state becomes a whole trajectory, then RMSEs and predictability.

As the reference notebook scored (tests/test_notebook.py replays it): an x0 is free-run over the
whole run; a window is kept and the rest is forecast from its last state. RMSEs are over window
indices 0..T_assim, the forecast T_assim+1..T_total and everything; rmse_trace[t] is the RMSE over
the n variables at time t (3 on Lorenz-63, 40 on Lorenz-96).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from core.setups.problems import Problem
from core.setups.window_systems import attractor_size
from core.systems.lorenz import AbstractSystem

# Lorenz-63's attractor size: the RMS over components of the climatological standard deviation (~8.5);
# `attractor_size(system)` gives each system's.
ATTRACTOR_SIZE = attractor_size("lorenz63")
# The forecast has lost its skill once RMSE(t) passes this fraction of the attractor's size.
PREDICTABILITY_FRACTION = 0.5


@eqx.filter_jit
def assemble_full_trajectory(
    analysis: Float[Array, " n"] | Float[Array, "T_assim_plus_1 n"],
    problem: Problem,
    forward: AbstractSystem | None = None,
) -> Float[Array, "T_total_plus_1 n"]:
    """x0 -> its free run over the whole run; a window -> the window, then a forecast from its end.
    The forecast runs the methods' model (`problem.forward`), as the methods would."""
    forward = problem.forward if forward is None else forward
    if analysis.ndim == 1:
        return forward.rollout(analysis, problem.T_total)
    forecast = forward.rollout(analysis[-1], problem.T_total - problem.T_assim)
    return jnp.concatenate([analysis, forecast[1:]], axis=0)


def scores(trajectory: Float[Array, "... T n"], problem: Problem) -> dict[str, Array]:
    """rmse_assim, rmse_forecast, rmse_total, rmse_per_component, rmse_trace (batched or not)."""
    squared = (trajectory - problem.truth) ** 2
    window = problem.T_assim + 1
    return {
        "rmse_assim": jnp.sqrt(jnp.mean(squared[..., :window, :], axis=(-2, -1))),
        "rmse_forecast": jnp.sqrt(jnp.mean(squared[..., window:, :], axis=(-2, -1))),
        "rmse_total": jnp.sqrt(jnp.mean(squared, axis=(-2, -1))),
        "rmse_per_component": jnp.sqrt(jnp.mean(squared, axis=-2)),
        "rmse_trace": jnp.sqrt(jnp.mean(squared, axis=-1)),
    }


def predictability_time(rmse_trace_values, problem: Problem, fraction: float = PREDICTABILITY_FRACTION) -> float:
    """The first time after the window at which RMSE(t) exceeds `fraction` of the system's attractor size.

    Returns `nan` when the forecast keeps its skill to the end of the run.
    """
    trace = np.asarray(rmse_trace_values)
    after = np.nonzero(trace[problem.T_assim + 1 :] > fraction * attractor_size(problem.system))[0]
    if after.size == 0:
        return math.nan
    return float((after[0] + problem.T_assim + 1) * problem.dt)
