"""Twin-experiment problems: a true trajectory, noisy masked observations, a background.

A problem is data, not code: the observation density lives in the mask, so a new density or noise
level reuses the compiled functions (nothing about it is a shape or a static argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from core._validate import check_choice, check_range
from core.systems.lorenz import Lorenz63Forward, fixed_points

PRESETS = ("attractor", "seed")

# Mean and standard deviation of each component over a long run on the attractor (dt = 0.01);
# `tests/test_problems.py` recomputes them from 64 independent runs of 100 time units.
CLIMATOLOGY_MEAN = (0.0, 0.0, 23.55)
CLIMATOLOGY_STD = (7.92, 9.00, 8.62)

SEED_BURN_IN_STEPS = 1000  # the reference throws these away after starting 0.01 from C+
ATTRACTOR_SPIN_UP_STEPS = 1500  # 15 time units, ~13 Lyapunov times: the start is forgotten
SEED_BACKGROUND_STD = 5.0  # B = 25 I in the reference


class Problem(eqx.Module):
    """One twin experiment. Arrays may carry a leading batch axis (see `generate_problems`).

    Fields:
        truth: the true trajectory over the whole run, `(T_total + 1, 3)`.
        obs: observations over the window, 0 where unobserved, `(T_assim + 1, 3)`.
        mask: 1 where observed, 0 elsewhere, `(T_assim + 1, 3)`.
        background_mean, background_std: the prior on the initial state, `(3,)` each.
        obs_noise: the observation-error standard deviation (scalar).
        obs_every: observations at window indices 0, obs_every, 2 obs_every, ... (scalar).
        dt, T_assim, T_total, preset: static settings.
    """

    truth: Float[Array, "... T_total_plus_1 3"]
    obs: Float[Array, "... T_assim_plus_1 3"]
    mask: Float[Array, "... T_assim_plus_1 3"]
    background_mean: Float[Array, "... 3"]
    background_std: Float[Array, "... 3"]
    obs_noise: Float[Array, "..."]
    obs_every: Array
    dt: float = eqx.field(static=True)
    T_assim: int = eqx.field(static=True)
    T_total: int = eqx.field(static=True)
    preset: str = eqx.field(static=True)

    @property
    def T_assim_plus_1(self) -> int:
        return self.T_assim + 1

    @property
    def T_total_plus_1(self) -> int:
        return self.T_total + 1

    @property
    def truth_window(self) -> Float[Array, "... T_assim_plus_1 3"]:
        return self.truth[..., : self.T_assim + 1, :]

    @property
    def forward(self) -> Lorenz63Forward:
        return Lorenz63Forward(dt=self.dt)


def observed_mask(observed: Sequence[int] | Array, n_variables: int = 3) -> Float[Array, " n"]:
    """(0, 2) -> [1, 0, 1]. An array (numpy or JAX, maybe traced) is taken as the 0/1 mask itself."""
    if not isinstance(observed, (tuple, list)):
        return jnp.asarray(observed, dtype=jnp.float32)
    components = tuple(int(c) for c in observed)
    if not components or any(not 0 <= c < n_variables for c in components):
        if n_variables == 3:
            raise ValueError(f"observed must name at least one of the components 0 (x), 1 (y), 2 (z); got {observed!r}")
        raise ValueError(f"observed must name at least one of the variables 0 .. {n_variables - 1}; got {observed!r}")
    # Built in numpy: a jnp scatter here compiled a few op-by-op programs at import (core.nets.training
    # checks its default config's components) and on a restart's first page.
    mask = np.zeros(n_variables, dtype=np.float32)
    mask[list(components)] = 1.0
    return jnp.asarray(mask)


def generate_problem(
    key: PRNGKeyArray,
    *,
    preset: str = "attractor",
    T_assim: int = 50,
    T_total: int = 1000,
    dt: float = 0.01,
    obs_every: int | Array = 5,
    obs_noise: float | Array = 0.5,
    observed: Sequence[int] | Array = (0, 1, 2),
) -> Problem:
    """Simulate one twin experiment.

    Arguments:
        key: PRNG key; split into one for the truth and one for the observation noise.
        preset: "attractor" (truth on the attractor, climatological background) or "seed"
            (the reference notebook's problem: truth 0.01 from C+, zero background, B = 25 I).
        T_assim: window length in steps (T_assim + 1 states).
        T_total: whole run in steps; the forecast covers T_assim + 1 .. T_total.
        dt: RK4 time step.
        obs_every: observe at window indices 0, obs_every, 2 obs_every, ... (traced: may vary).
        obs_noise: observation-noise standard deviation (traced: may vary).
        observed: observed components, e.g. (0, 1, 2) or (0,); or a 0/1 array of length 3.

    Returns:
        A `Problem`.

    Raises:
        ValueError: a parameter is out of range; the message names it and the allowed range.
    """
    check_choice("preset", preset, PRESETS)
    check_range("T_assim", T_assim, 1, 10_000, integer=True)
    check_range("T_total", T_total, T_assim, 1_000_000, integer=True)
    check_range("dt", dt, 1e-5, 0.05)
    check_range("obs_every", obs_every, 1, T_assim, integer=True)
    check_range("obs_noise", obs_noise, 0.0, 100.0)
    mask3 = observed_mask(observed)
    return _generate(
        key,
        jnp.asarray(obs_every),
        jnp.asarray(obs_noise, jnp.float32),
        mask3,
        preset=preset,
        T_assim=int(T_assim),
        T_total=int(T_total),
        dt=float(dt),
    )


@partial(jax.jit, static_argnames=("preset", "T_assim", "T_total", "dt"))
def _generate(key, obs_every, obs_noise, mask3, *, preset, T_assim, T_total, dt) -> Problem:
    forward = Lorenz63Forward(dt=dt)
    key_truth, key_obs = jax.random.split(key)
    if preset == "seed":
        start = fixed_points()[1] + 0.01 * jax.random.normal(key_truth, (3,))
        start = forward.advance(start, SEED_BURN_IN_STEPS)
        background_mean = jnp.zeros(3)
        background_std = jnp.full(3, SEED_BACKGROUND_STD)
    else:
        mean, std = jnp.array(CLIMATOLOGY_MEAN), jnp.array(CLIMATOLOGY_STD)
        start = mean + std * jax.random.normal(key_truth, (3,))
        start = forward.advance(start, ATTRACTOR_SPIN_UP_STEPS)
        background_mean, background_std = mean, std
    truth = forward.rollout(start, T_total)
    mask = observation_mask(obs_every, mask3, T_assim)
    noise = obs_noise * jax.random.normal(key_obs, (T_assim + 1, 3))
    obs = mask * (truth[: T_assim + 1] + noise)
    return Problem(
        truth=truth,
        obs=obs,
        mask=mask,
        background_mean=background_mean,
        background_std=background_std,
        obs_noise=obs_noise,
        obs_every=obs_every,
        dt=dt,
        T_assim=T_assim,
        T_total=T_total,
        preset=preset,
    )


def observation_mask(obs_every, component_mask: Float[Array, "3"], T_assim: int):
    """1 at window indices 0, obs_every, ... for the observed components; traced `obs_every` is fine."""
    observed_times = (jnp.arange(T_assim + 1) % obs_every) == 0
    return observed_times[:, None].astype(jnp.float32) * component_mask[None, :]


def generate_problems(
    key: PRNGKeyArray,
    n_problems: int,
    *,
    obs_every: int | Array = 5,
    obs_noise: float | Array = 0.5,
    observed: Sequence[int] | Array = (0, 1, 2),
    **settings,
) -> Problem:
    """`n_problems` independent problems from `split(key, n_problems)`, vmapped: one leading axis.

    `obs_every`, `obs_noise` and `observed` may be per-problem arrays of length `n_problems`
    (for `observed`, shape `(n_problems, 3)` 0/1 masks): that is how mixed training sets are made.
    """
    check_range("n_problems", n_problems, 1, 1_000_000, integer=True)
    check_range("obs_every", obs_every, 1, settings.get("T_assim", 50), integer=True)
    check_range("obs_noise", obs_noise, 0.0, 100.0)
    keys = jax.random.split(key, n_problems)
    every = jnp.broadcast_to(jnp.asarray(obs_every), (n_problems,))
    noise = jnp.broadcast_to(jnp.asarray(obs_noise, jnp.float32), (n_problems,))
    masks = jnp.broadcast_to(observed_mask(observed), (n_problems, 3))
    return jax.vmap(lambda k, e, s, m: generate_problem(k, obs_every=e, obs_noise=s, observed=m, **settings))(
        keys, every, noise, masks
    )


def index_problem(problems: Problem, i: int) -> Problem:
    """The i-th problem of a batch made by `generate_problems`."""
    return jax.tree_util.tree_map(lambda a: a[i], problems)
