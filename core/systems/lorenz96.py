"""Lorenz-96: `n` variables on a circle, advected, damped and forced by F (Lorenz 1996).

dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, indices modulo n. The advection term conserves
the energy (1/2) sum x_i^2, so dE/dt = F sum x_i - 2E: forcing feeds it, damping drains it
(`tests/test_lorenz96.py` checks this, and the leading Lyapunov exponent, ~1.7 per time unit at
F = 8 and n = 40). DAPPER's `mods/Lorenz96/` and the 4DVarNet authors use n = 40, F = 8, dt = 0.05.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from core.systems.lorenz import AbstractSystem

FORCING = 8.0
N_VARIABLES = 40
DT = 0.05


def lorenz96_vector_field(state: Float[Array, "... n"], forcing: float | Float[Array, ""] = FORCING):
    """dx/dt of Lorenz-96 over the last axis (periodic); broadcasts over leading axes."""
    ahead = jnp.roll(state, -1, axis=-1)  # x_{i+1}
    behind = jnp.roll(state, 1, axis=-1)  # x_{i-1}
    two_behind = jnp.roll(state, 2, axis=-1)  # x_{i-2}
    return (ahead - two_behind) * behind - state + forcing


class Lorenz96Forward(AbstractSystem):
    """Lorenz-96 with forcing F, one RK4 step of length `dt` per `step`; the size comes from the state.

    Arguments:
        dt: the time step (DAPPER's and the 4DVarNet authors' 0.05).
        forcing: F; an array field, so a new F (the methods' wrong model, a sweep over F) reuses the
            compiled code.
    """

    dt: float = eqx.field(static=True, default=DT)
    forcing: Float[Array, ""] = eqx.field(default=FORCING, converter=jnp.asarray)

    def vector_field(self, state: Float[Array, "... n"]) -> Float[Array, "... n"]:
        return lorenz96_vector_field(state, self.forcing)
