"""Every method as one jitted function: problem -> whole trajectory (analysis + forecast).

These are the functions the CLI, the benchmarks and the dashboard call; they are jitted here at
module level, so every caller (and every dashboard session) shares one compile cache. Everything
that varies with a slider (the mask, the noise, the key, K) is traced, never static.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._validate import check_range
from .fourdvar import Analysis4DVar, free_run_x0, optimal_interpolation, strong_4dvar
from .fourdvarnet import FourDVarNet
from .fourdvarnet_reference import Batch1D, FourDVarNet1D
from .problems import Problem
from .scoring import assemble_full_trajectory

METHOD_NAMES = (
    "free_run",
    "oi",
    "strong_4dvar",
    "strong_4dvar_bfgs",
    "fourdvarnet_reference",
    "fourdvarnet",
)
MAX_SOLVER_STEPS = 100
METHOD_LABELS = {
    "free_run": "free run from the background",
    "oi": "optimal interpolation",
    "strong_4dvar": "strong 4DVar (Gauss-Newton)",
    "strong_4dvar_bfgs": "strong 4DVar (BFGS)",
    "fourdvarnet_reference": "FourDVarNet, reference architecture",
    "fourdvarnet": "FourDVarNet, ours",
}


@jax.jit
def free_run_trajectory(problem: Problem) -> Float[Array, "T 3"]:
    return assemble_full_trajectory(free_run_x0(problem), problem)


@jax.jit
def oi_trajectory(problem: Problem) -> Float[Array, "T 3"]:
    return assemble_full_trajectory(optimal_interpolation(problem), problem)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def strong_4dvar_trajectory(
    problem: Problem, solver: str = "gauss-newton", max_steps: int | None = None
) -> tuple[Float[Array, "T 3"], Analysis4DVar]:
    """The 4DVar analysis and its free run; the analysis carries steps, status and final cost."""
    analysis = strong_4dvar(problem, solver=solver, max_steps=max_steps)
    return assemble_full_trajectory(analysis.x0, problem), analysis


def fourdvarnet_trajectory(model: FourDVarNet, problem: Problem, n_steps=None) -> Float[Array, "T 3"]:
    """Our FourDVarNet's window, then its forecast; K = `n_steps` is traced: no recompiling."""
    return _fourdvarnet_trajectory(model, problem, k_steps(model, n_steps))


@jax.jit
def _fourdvarnet_trajectory(model, problem, n_steps):
    return assemble_full_trajectory(model.analyse(problem, n_steps), problem)


def fourdvarnet_window(model: FourDVarNet, problem: Problem, n_steps=None) -> Float[Array, "T 3"]:
    """The analysed window alone `(T_assim + 1, 3)`."""
    return _fourdvarnet_window(model, problem, k_steps(model, n_steps))


@jax.jit
def _fourdvarnet_window(model, problem, n_steps):
    return model.analyse(problem, n_steps)


@jax.jit
def fourdvarnet_reference_trajectory(model: FourDVarNet1D, problem: Problem) -> Float[Array, "T 3"]:
    batch = Batch1D(input=problem.obs[None], mask=problem.mask[None], target=problem.truth_window[None])
    return assemble_full_trajectory(model(batch)[0], problem)


def fourdvarnet_trajectories(model, problems: Problem, n_steps=None) -> Float[Array, "B T 3"]:
    """A batch of problems at once (vmapped), K traced."""
    return _fourdvarnet_trajectories(model, problems, k_steps(model, n_steps))


@jax.jit
def _fourdvarnet_trajectories(model, problems, n_steps):
    return jax.vmap(lambda p: assemble_full_trajectory(model.analyse(p, n_steps), p))(problems)


@jax.jit
def fourdvarnet_reference_trajectories(model, problems: Problem) -> Float[Array, "B T 3"]:
    batch = Batch1D(input=problems.obs, mask=problems.mask, target=problems.truth_window)
    return jax.vmap(assemble_full_trajectory)(model(batch), problems)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def strong_4dvar_trajectories(problems: Problem, solver: str = "gauss-newton", max_steps=None):
    return jax.vmap(lambda p: strong_4dvar_trajectory(p, solver, max_steps))(problems)


@jax.jit
def free_run_trajectories(problems: Problem):
    return jax.vmap(free_run_trajectory)(problems)


@jax.jit
def oi_trajectories(problems: Problem):
    return jax.vmap(oi_trajectory)(problems)


def k_steps(model, n_steps: int | None) -> Array:
    """K as an array, so that jit traces it: a new K reuses the compiled code."""
    n_steps = model.n_solver_steps if n_steps is None else n_steps
    check_range("n_steps", n_steps, 0, MAX_SOLVER_STEPS, integer=True)
    return jnp.asarray(n_steps, dtype=jnp.int32)
