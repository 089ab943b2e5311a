"""What a window problem needs to know about each system: its model, its truth's start, its climatology.

Lorenz-63 (3 variables; the methods' parameter is rho) and Lorenz-96 (n variables on a circle; the
methods' parameter is the forcing F). The truth runs the true system; the methods' model is the same
class with its own parameter value, an array field, so a new mismatch reuses the compiled code.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from core._validate import check_choice, check_range, is_concrete
from core.systems.lorenz import RHO, AbstractSystem, Lorenz63Forward, fixed_points
from core.systems.lorenz96 import FORCING, N_VARIABLES, Lorenz96Forward

SYSTEMS = ("lorenz63", "lorenz96")
# The presets each system has: Lorenz-96 has no reference notebook, hence no "seed".
SYSTEM_PRESETS = {"lorenz63": ("attractor", "seed"), "lorenz96": ("attractor",)}
# The parameter of each system that the methods' model may get wrong, as `generate_problem` names it.
MODEL_PARAMETER = {"lorenz63": "model_rho", "lorenz96": "model_forcing"}
DEFAULT_N_VARIABLES = {"lorenz63": 3, "lorenz96": N_VARIABLES}
N_VARIABLES_RANGE = (4, 1000)  # Lorenz-96's stencil reaches two variables behind and one ahead

# Lorenz-63: mean and standard deviation of each component over a long run on the attractor (dt = 0.01);
# `tests/test_problems.py` recomputes them from 64 independent runs of 100 time units.
CLIMATOLOGY_MEAN = (0.0, 0.0, 23.55)
CLIMATOLOGY_STD = (7.92, 9.00, 8.62)
SEED_BURN_IN_STEPS = 1000  # the reference throws these away after starting 0.01 from C+
ATTRACTOR_SPIN_UP_STEPS = 1500  # 15 time units, ~13 Lyapunov times: the start is forgotten
SEED_BACKGROUND_STD = 5.0  # B = 25 I in the reference

# Lorenz-96 at F = 8: every variable has the same statistics (the system is invariant under rotation of
# the circle); `tests/test_model_error.py` recomputes them from 32 runs of 200 time units at n = 40.
# Other forcings keep this background (a climatological prior, a little off for F far from 8).
L96_CLIMATOLOGY_MEAN = 2.34
L96_CLIMATOLOGY_STD = 3.64
L96_SPIN_UP_TIME = 15.0  # time units: ~25 Lyapunov times at F = 8

MODEL_RHO_RANGE = (0.5, 100.0)  # as the CLI's MODEL_RHO: the attractor stays bounded
FORCING_RANGE = (-100.0, 100.0)
MODEL_NOISE_RANGE = (0.0, 100.0)  # a variance per unit time


def default_parameter(system: str) -> float:
    """The truth's parameter value when none is given: rho = 28, F = 8."""
    return RHO if system == "lorenz63" else FORCING


def make_system(system: str, dt: float, parameter: float | Float[Array, ""]) -> AbstractSystem:
    """Lorenz-63 with this rho, or Lorenz-96 with this F (traced: a new value reuses compiled code)."""
    if system == "lorenz63":
        return Lorenz63Forward(dt=dt, rho=parameter)
    return Lorenz96Forward(dt=dt, forcing=parameter)


def system_name(model: AbstractSystem) -> str:
    return "lorenz96" if isinstance(model, Lorenz96Forward) else "lorenz63"


def model_parameter(model: AbstractSystem) -> Float[Array, "..."]:
    """The value of the parameter a mismatch changes: rho or F."""
    return model.forcing if isinstance(model, Lorenz96Forward) else model.rho


def climatology(system: str, n_variables: int) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """The attractor's mean and standard deviation per variable."""
    if system == "lorenz63":
        return jnp.array(CLIMATOLOGY_MEAN), jnp.array(CLIMATOLOGY_STD)
    return jnp.full(n_variables, L96_CLIMATOLOGY_MEAN), jnp.full(n_variables, L96_CLIMATOLOGY_STD)


def attractor_size(system: str) -> float:
    """The RMS over variables of the climatological standard deviation (~8.5 for Lorenz-63, 3.64 for 96)."""
    std = CLIMATOLOGY_STD if system == "lorenz63" else (L96_CLIMATOLOGY_STD,)
    return float(np.sqrt(np.mean(np.square(std))))


def truth_start(
    key: PRNGKeyArray, system: str, preset: str, truth_model: AbstractSystem, n_variables: int
) -> tuple[Float[Array, " n"], Float[Array, " n"], Float[Array, " n"]]:
    """(the truth's first state, the background mean, the background std) for a preset.

    Lorenz-63 keeps exactly the draws and steps it always had, so its problems stay bit-identical.
    """
    if system == "lorenz63" and preset == "seed":
        start = fixed_points()[1] + 0.01 * jax.random.normal(key, (3,))
        start = truth_model.advance(start, SEED_BURN_IN_STEPS)
        return start, jnp.zeros(3), jnp.full(3, SEED_BACKGROUND_STD)
    mean, std = climatology(system, n_variables)
    start = mean + std * jax.random.normal(key, (n_variables,))
    spin_up = ATTRACTOR_SPIN_UP_STEPS if system == "lorenz63" else round(L96_SPIN_UP_TIME / truth_model.dt)
    return truth_model.advance(start, spin_up), mean, std


def resolve_system(system: str, preset: str, n_variables, forcing, model_rho, model_forcing) -> int:
    """Check the system-level choices (before any work); return the state's size."""
    check_choice("system", system, SYSTEMS)
    if preset not in SYSTEM_PRESETS[system]:
        allowed = ", ".join(repr(p) for p in SYSTEM_PRESETS[system])
        raise ValueError(f"preset {preset!r} has no meaning for system {system!r}; allowed: {allowed}")
    foreign = {"lorenz63": {"forcing": forcing, "model_forcing": model_forcing}, "lorenz96": {"model_rho": model_rho}}
    for name, value in foreign[system].items():
        if value is not None:
            other = "lorenz96" if system == "lorenz63" else "lorenz63"
            raise ValueError(f"{name} applies to system={other!r} only; got {name}={value!r} with system={system!r}")
    if system == "lorenz63":
        if n_variables not in (None, 3):
            raise ValueError(f"n_variables must be 3 for system='lorenz63'; got {n_variables!r}")
        return 3
    if n_variables is None:
        return DEFAULT_N_VARIABLES[system]
    check_range("n_variables", n_variables, *N_VARIABLES_RANGE, integer=True)
    return int(n_variables)


def check_model_error(forcing, model_rho, model_forcing, model_noise, observed_share) -> None:
    for name, value, bounds in (
        ("forcing", forcing, FORCING_RANGE),
        ("model_rho", model_rho, MODEL_RHO_RANGE),
        ("model_forcing", model_forcing, FORCING_RANGE),
        ("model_noise", model_noise, MODEL_NOISE_RANGE),
    ):
        if value is not None:
            check_range(name, value, *bounds)
    check_range("observed_share", observed_share, 0.0, 1.0)
    if is_concrete(observed_share) and np.any(np.asarray(observed_share) <= 0):
        raise ValueError(f"observed_share must be in (0, 1] (a share of the variables); got {observed_share!r}")
