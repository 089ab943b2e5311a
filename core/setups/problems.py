"""Twin-experiment problems: a true trajectory, noisy masked observations, a background, the methods' model.

A problem is data, not code: the observation density lives in the mask, the methods' model (its
parameters) and the truth's model noise are arrays, so a new density, noise level, observed share or
model mismatch reuses the compiled functions (nothing about it is a shape or a static argument).
The system (Lorenz-63 or Lorenz-96) and its size are static: each compiles once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from core._validate import check_range
from core.setups.window_systems import (
    ATTRACTOR_SPIN_UP_STEPS,
    CLIMATOLOGY_MEAN,
    CLIMATOLOGY_STD,
    SEED_BACKGROUND_STD,
    SEED_BURN_IN_STEPS,
    SYSTEMS,
    check_model_error,
    default_parameter,
    make_system,
    resolve_system,
    system_name,
    truth_start,
)
from core.systems.lorenz import AbstractSystem, Lorenz63Forward

PRESETS = ("attractor", "seed")

__all__ = [
    "ATTRACTOR_SPIN_UP_STEPS",
    "CLIMATOLOGY_MEAN",
    "CLIMATOLOGY_STD",
    "PRESETS",
    "SEED_BACKGROUND_STD",
    "SEED_BURN_IN_STEPS",
    "SYSTEMS",
    "Problem",
    "generate_problem",
    "generate_problems",
    "index_problem",
    "observation_mask",
    "observed_mask",
]


class Problem(eqx.Module):
    """One twin experiment. Arrays may carry a leading batch axis (see `generate_problems`).

    Fields:
        truth: the true trajectory over the whole run, `(T_total + 1, n)`.
        obs: observations over the window, 0 where unobserved, `(T_assim + 1, n)`.
        mask: 1 where observed, 0 elsewhere, `(T_assim + 1, n)`.
        background_mean, background_std: the prior on the initial state, `(n,)` each.
        obs_noise: the observation-error standard deviation (scalar).
        obs_every: observations at window indices 0, obs_every, 2 obs_every, ... (scalar).
        dt, T_assim, T_total, preset: static settings.
        model: the methods' model M (its parameters traced, its class in the tree structure); None
            for a problem built by hand: Lorenz-63 with the truth's parameters.
        truth_model: the system the truth ran (None: as `model`).
        model_noise: the truth's additive model noise Q, a variance per unit time (None: 0).
    """

    truth: Float[Array, "... T_total_plus_1 n"]
    obs: Float[Array, "... T_assim_plus_1 n"]
    mask: Float[Array, "... T_assim_plus_1 n"]
    background_mean: Float[Array, "... n"]
    background_std: Float[Array, "... n"]
    obs_noise: Float[Array, "..."]
    obs_every: Array
    dt: float = eqx.field(static=True)
    T_assim: int = eqx.field(static=True)
    T_total: int = eqx.field(static=True)
    preset: str = eqx.field(static=True)
    model: AbstractSystem | None = None
    truth_model: AbstractSystem | None = None
    model_noise: Float[Array, "..."] | None = None

    @property
    def T_assim_plus_1(self) -> int:
        return self.T_assim + 1

    @property
    def T_total_plus_1(self) -> int:
        return self.T_total + 1

    @property
    def n_variables(self) -> int:
        return self.truth.shape[-1]

    @property
    def system(self) -> str:
        """ "lorenz63" or "lorenz96"."""
        return "lorenz63" if self.model is None else system_name(self.model)

    @property
    def truth_window(self) -> Float[Array, "... T_assim_plus_1 n"]:
        return self.truth[..., : self.T_assim + 1, :]

    @property
    def forward(self) -> AbstractSystem:
        """The methods' model (which may differ from the truth's system)."""
        return Lorenz63Forward(dt=self.dt) if self.model is None else self.model


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
    system: str = "lorenz63",
    preset: str = "attractor",
    T_assim: int = 50,
    T_total: int = 1000,
    dt: float = 0.01,
    obs_every: int | Array = 5,
    obs_noise: float | Array = 0.5,
    observed: Sequence[int] | Array | None = None,
    obs_spacing: int | Array = 1,
    observed_share: float | Array = 1.0,
    n_variables: int | None = None,
    forcing: float | Array | None = None,
    model_rho: float | Array | None = None,
    model_forcing: float | Array | None = None,
    model_noise: float | Array = 0.0,
) -> Problem:
    """Simulate one twin experiment.

    Arguments:
        key: PRNG key; split into one for the truth and one for the observation noise (the truth's
            model noise and the observed share draw from streams folded off these, so a problem
            without them is exactly what it always was).
        system: "lorenz63" or "lorenz96" (static).
        preset: "attractor" (truth on the attractor, climatological background) or, for Lorenz-63 only,
            "seed" (the reference notebook's problem: truth 0.01 from C+, zero background, B = 25 I).
        T_assim: window length in steps (T_assim + 1 states).
        T_total: whole run in steps; the forecast covers T_assim + 1 .. T_total.
        dt: RK4 time step (Lorenz-96 set-ups use 0.05).
        obs_every: observe at window indices 0, obs_every, 2 obs_every, ... (traced: may vary).
        obs_noise: observation-noise standard deviation (traced: may vary).
        observed: observed variables, e.g. (0, 1, 2) or (0,); or a 0/1 array of length n; None: all.
        obs_spacing: observe every k-th variable (0, k, 2k, ...) among `observed` (traced).
        observed_share: in (0, 1]: at each observation time each variable is observed independently
            with this probability (traced).
        n_variables: the state's size (Lorenz-96 only, static; default 40).
        forcing: the truth's F (Lorenz-96 only; default 8).
        model_rho, model_forcing: the methods' rho (Lorenz-63) or F (Lorenz-96); None: the truth's.
        model_noise: Q, the truth's additive model noise per unit time: x_{k+1} = M(x_k) + sqrt(Q dt) xi_k.
            The methods' model has none.

    Returns:
        A `Problem`.

    Raises:
        ValueError: a parameter is out of range, or foreign to the system; the message names it and
            what is allowed.
    """
    n = resolve_system(system, preset, n_variables, forcing, model_rho, model_forcing)
    check_range("T_assim", T_assim, 1, 10_000, integer=True)
    check_range("T_total", T_total, T_assim, 1_000_000, integer=True)
    check_range("dt", dt, 1e-5, 0.05)
    check_range("obs_every", obs_every, 1, T_assim, integer=True)
    check_range("obs_noise", obs_noise, 0.0, 100.0)
    check_range("obs_spacing", obs_spacing, 1, n, integer=True)
    check_model_error(forcing, model_rho, model_forcing, model_noise, observed_share)
    variables = jnp.ones(n, jnp.float32) if observed is None else observed_mask(observed, n)
    truth_parameter = default_parameter(system) if forcing is None else forcing
    given = model_rho if system == "lorenz63" else model_forcing
    return _generate(
        key,
        jnp.asarray(obs_every),
        jnp.asarray(obs_noise, jnp.float32),
        variables * spaced_mask(obs_spacing, n),
        jnp.asarray(observed_share, jnp.float32),
        jnp.asarray(truth_parameter, jnp.float32),
        jnp.asarray(truth_parameter if given is None else given, jnp.float32),
        jnp.asarray(model_noise, jnp.float32),
        system=system,
        preset=preset,
        T_assim=int(T_assim),
        T_total=int(T_total),
        dt=float(dt),
        n_variables=n,
    )


def spaced_mask(obs_spacing: int | Array, n_variables: int) -> Float[Array, " n"]:
    """1 at variables 0, k, 2k, ... for k = `obs_spacing` (traced is fine)."""
    return (jnp.arange(n_variables) % obs_spacing == 0).astype(jnp.float32)


@partial(jax.jit, static_argnames=("system", "preset", "T_assim", "T_total", "dt", "n_variables"))
def _generate(
    key,
    obs_every,
    obs_noise,
    variable_mask,
    observed_share,
    truth_parameter,
    model_parameter,
    model_noise,
    *,
    system,
    preset,
    T_assim,
    T_total,
    dt,
    n_variables,
) -> Problem:
    # A traced rho = 28 gives the same bits as the constant it replaced (tests/test_problems.py checks).
    truth_model = make_system(system, dt, truth_parameter)
    key_truth, key_obs = jax.random.split(key)
    start, background_mean, background_std = truth_start(key_truth, system, preset, truth_model, n_variables)
    # x_{k+1} = M(x_k) + sqrt(Q dt) xi_k; with Q = 0 every kick is exactly 0 and the truth is M's rollout.
    kicks = jnp.sqrt(model_noise * dt) * jax.random.normal(jax.random.fold_in(key_truth, 1), (T_total, n_variables))
    truth = noisy_rollout(truth_model, start, kicks)
    mask = observation_mask(obs_every, variable_mask, T_assim)
    # A random share per time: uniform draws in [0, 1) are all below a share of 1, so the mask is unchanged.
    drawn = jax.random.uniform(jax.random.fold_in(key_obs, 1), (T_assim + 1, n_variables)) < observed_share
    mask = mask * drawn.astype(mask.dtype)
    noise = obs_noise * jax.random.normal(key_obs, (T_assim + 1, n_variables))
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
        model=make_system(system, dt, model_parameter),
        truth_model=truth_model,
        model_noise=model_noise,
    )


def noisy_rollout(
    model: AbstractSystem, start: Float[Array, " n"], kicks: Float[Array, "T n"]
) -> Float[Array, "T_plus_1 n"]:
    """start, M(start) + kick_0, M(.) + kick_1, ...: `len(kicks) + 1` states."""

    def body(state, kick):
        nxt = model.step(state) + kick
        return nxt, nxt

    _, states = jax.lax.scan(body, start, kicks)
    return jnp.concatenate([start[None], states], axis=0)


def observation_mask(obs_every, component_mask: Float[Array, " n"], T_assim: int):
    """1 at window indices 0, obs_every, ... for the observed variables; traced `obs_every` is fine."""
    observed_times = (jnp.arange(T_assim + 1) % obs_every) == 0
    return observed_times[:, None].astype(jnp.float32) * component_mask[None, :]


def generate_problems(
    key: PRNGKeyArray,
    n_problems: int,
    *,
    obs_every: int | Array = 5,
    obs_noise: float | Array = 0.5,
    observed: Sequence[int] | Array | None = None,
    observed_share: float | Array = 1.0,
    model_rho: float | Array | None = None,
    model_forcing: float | Array | None = None,
    model_noise: float | Array = 0.0,
    **settings,
) -> Problem:
    """`n_problems` independent problems from `split(key, n_problems)`, vmapped: one leading axis.

    `obs_every`, `obs_noise`, `observed`, `observed_share`, `model_rho` / `model_forcing` and
    `model_noise` may be per-problem arrays of length `n_problems` (for `observed`, shape
    `(n_problems, n)` 0/1 masks): that is how mixed training sets are made.
    """
    system = settings.get("system", "lorenz63")
    n = resolve_system(
        system,
        settings.get("preset", "attractor"),
        settings.get("n_variables"),
        settings.get("forcing"),
        model_rho,
        model_forcing,
    )
    check_range("n_problems", n_problems, 1, 1_000_000, integer=True)
    check_range("obs_every", obs_every, 1, settings.get("T_assim", 50), integer=True)
    check_range("obs_noise", obs_noise, 0.0, 100.0)
    check_model_error(settings.get("forcing"), model_rho, model_forcing, model_noise, observed_share)
    keys = jax.random.split(key, n_problems)
    per_problem = {
        "obs_every": obs_every,
        "obs_noise": jnp.asarray(obs_noise, jnp.float32),
        "observed": jnp.ones(n, jnp.float32) if observed is None else observed_mask(observed, n),
        "observed_share": jnp.asarray(observed_share, jnp.float32),
        "model_noise": jnp.asarray(model_noise, jnp.float32),
    }
    given_model = {"model_rho": model_rho, "model_forcing": model_forcing}
    per_problem |= {name: jnp.asarray(v, jnp.float32) for name, v in given_model.items() if v is not None}
    batched = {
        name: jnp.broadcast_to(jnp.asarray(v), (n_problems, n) if name == "observed" else (n_problems,))
        for name, v in per_problem.items()
    }
    return jax.vmap(lambda k, values: generate_problem(k, **values, **settings))(keys, batched)


def index_problem(problems: Problem, i: int) -> Problem:
    """The i-th problem of a batch made by `generate_problems`."""
    return jax.tree_util.tree_map(lambda a: a[i], problems)
