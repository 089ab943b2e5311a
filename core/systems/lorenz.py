"""The systems: a vector field integrated by classical RK4, with `lax.scan` rollouts.

`AbstractSystem` holds what every system shares (one RK4 step of length `dt`, rollouts); a system
is a final subclass that adds its vector field and parameters: Lorenz-63 here, Lorenz-96 in
`core/systems/lorenz96.py`. Every method sees a system only through `step`, so nothing assumes 3 variables.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

SIGMA = 10.0
RHO = 28.0
BETA = 8.0 / 3.0


class AbstractSystem(eqx.Module):
    """A discrete model M: one classical RK4 step of length `dt` of `vector_field` per call of `step`.

    States have the system's `n` variables on their last axis; every function broadcasts over
    leading axes, so a whole window (or an ensemble) steps at once.
    """

    dt: eqx.AbstractVar[float]

    @abc.abstractmethod
    def vector_field(self, state: Float[Array, "... n"]) -> Float[Array, "... n"]:
        """dx/dt at `state`."""

    def step(self, state: Float[Array, "... n"]) -> Float[Array, "... n"]:
        """One RK4 step; broadcasts over leading axes (M applied to every state of a window)."""
        dt, f = self.dt, self.vector_field
        k1 = f(state)
        k2 = f(state + 0.5 * dt * k1)
        k3 = f(state + 0.5 * dt * k2)
        k4 = f(state + dt * k3)
        return state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def __call__(self, state: Float[Array, "... n"]) -> Float[Array, "... n"]:
        return self.step(state)

    def rollout(self, x0: Float[Array, " n"], n_steps: int) -> Float[Array, "n_steps+1 n"]:
        """The trajectory x0, M(x0), ..., M^n(x0): `n_steps + 1` states."""

        def body(state, _):
            nxt = self.step(state)
            return nxt, nxt

        _, states = jax.lax.scan(body, x0, None, length=n_steps)
        return jnp.concatenate([x0[None], states], axis=0)

    def advance(self, x0: Float[Array, " n"], n_steps: int) -> Float[Array, " n"]:
        """M^n(x0), the last state only (no trajectory kept)."""
        return jax.lax.fori_loop(0, n_steps, lambda _, s: self.step(s), x0)


def lorenz63_vector_field(
    state: Float[Array, "... 3"], sigma: float = SIGMA, rho: float = RHO, beta: float = BETA
) -> Float[Array, "... 3"]:
    """dx/dt of Lorenz-63; broadcasts over leading axes, so a whole window evaluates at once."""
    x, y, z = state[..., 0], state[..., 1], state[..., 2]
    return jnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def fixed_points(rho: float = RHO, beta: float = BETA) -> Float[Array, "3 3"]:
    """The origin and the two wing centres C+ and C-, as rows."""
    c = jnp.sqrt(beta * (rho - 1.0))
    return jnp.array([[0.0, 0.0, 0.0], [c, c, rho - 1.0], [-c, -c, rho - 1.0]])


class Lorenz63Forward(AbstractSystem):
    """Lorenz-63 (3 variables), the reference notebook's model.

    Arguments:
        dt: the time step (the reference uses 0.01).
        sigma, rho, beta: the classical parameters; array fields, so a new value (the methods' wrong
            model, a sweep over rho) reuses the compiled code.
    """

    dt: float = eqx.field(static=True, default=0.01)
    sigma: Float[Array, ""] = eqx.field(default=SIGMA, converter=jnp.asarray)
    rho: Float[Array, ""] = eqx.field(default=RHO, converter=jnp.asarray)
    beta: Float[Array, ""] = eqx.field(default=BETA, converter=jnp.asarray)

    def vector_field(self, state: Float[Array, "... 3"]) -> Float[Array, "... 3"]:
        return lorenz63_vector_field(state, self.sigma, self.rho, self.beta)
