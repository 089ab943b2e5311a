"""Strong-constraint 4DVar over the initial state, and the cheap references (free run, OI).

The cost (REFERENCE.md), with a diagonal B and R:

    J(x0) = 1/2 |(x0 - xb) / sigma_b|^2 + 1/2 sum_t |mask_t (M_t(x0) - y_t) / sigma_o|^2

It is a sum of squares, so the fast default hands its residual vector to a Gauss-Newton solve
(forward-mode Jacobian: the control has only 3 numbers); BFGS minimises the scalar cost as the
reference notebook does.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int

from ._validate import check_choice, check_range
from .problems import Problem

SOLVERS = ("gauss-newton", "levenberg-marquardt", "bfgs")
DEFAULT_MAX_STEPS = {"gauss-newton": 20, "levenberg-marquardt": 100, "bfgs": 2000}
# A perfect observation would give an infinite weight; this floor keeps noise-free twins solvable.
MIN_OBS_STD = 1e-2


class Analysis4DVar(eqx.Module):
    """The result of a strong-constraint 4DVar solve (fields gain a batch axis under vmap)."""

    x0: Float[Array, "... 3"]
    converged: Bool[Array, "..."]
    num_steps: Int[Array, "..."]
    cost: Float[Array, "..."]
    status: Int[Array, "..."]  # STATUS_CONVERGED, STATUS_MAX_STEPS or STATUS_FAILED


def residuals(x0: Float[Array, "3"], problem: Problem) -> Float[Array, " n"]:
    """The whitened residuals r with J(x0) = 1/2 |r|^2: background first, then the observations."""
    trajectory = problem.forward.rollout(x0, problem.T_assim)
    obs_std = jnp.maximum(problem.obs_noise, MIN_OBS_STD)
    misfit = problem.mask * (trajectory - problem.obs) / obs_std
    background = (x0 - problem.background_mean) / problem.background_std
    return jnp.concatenate([background, misfit.ravel()])


def cost(x0: Float[Array, "3"], problem: Problem) -> Float[Array, ""]:
    """The strong-constraint 4DVar cost J(x0)."""
    r = residuals(x0, problem)
    return 0.5 * jnp.sum(r**2)


def _solver(name: str):
    if name == "gauss-newton":
        # 1e-4 relative to |x0| ~ 20 is far below the analysis error (~0.1); at 1e-5 float32
        # round-off keeps ~9% of solves from declaring convergence at the same cost.
        return optx.GaussNewton(rtol=1e-4, atol=1e-4, linear_solver=lx.Normal(lx.Cholesky()))
    if name == "levenberg-marquardt":
        return optx.LevenbergMarquardt(rtol=1e-5, atol=1e-5)
    return optx.BFGS(rtol=1e-6, atol=1e-6)  # the reference's tolerances


# Our own small codes, independent of optimistix's internal numbering.
STATUS_CONVERGED, STATUS_MAX_STEPS, STATUS_FAILED = 0, 1, 2


def _status_code(result, final_cost) -> Int[Array, ""]:
    hit_cap = (result == optx.RESULTS.max_steps_reached) | (result == optx.RESULTS.nonlinear_max_steps_reached)
    return jnp.where(
        (result == optx.RESULTS.successful) & jnp.isfinite(final_cost),
        STATUS_CONVERGED,
        jnp.where(hit_cap, STATUS_MAX_STEPS, STATUS_FAILED),
    ).astype(jnp.int32)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def _strong_4dvar(problem: Problem, solver: str, max_steps: int) -> Analysis4DVar:
    # BFGS minimises the scalar cost; the least-squares solvers take the residual vector.
    solve, objective = (optx.minimise, cost) if solver == "bfgs" else (optx.least_squares, residuals)
    solution = solve(
        objective, _solver(solver), problem.background_mean, args=problem, max_steps=max_steps, throw=False
    )
    x0 = solution.value
    final_cost = cost(x0, problem)
    # A solve that "succeeds" into NaNs has not converged either.
    converged = (solution.result == optx.RESULTS.successful) & jnp.isfinite(final_cost)
    return Analysis4DVar(
        x0=x0,
        converged=converged,
        num_steps=solution.stats["num_steps"],
        cost=final_cost,
        status=_status_code(solution.result, final_cost),
    )


def strong_4dvar(problem: Problem, *, solver: str = "gauss-newton", max_steps: int | None = None) -> Analysis4DVar:
    """Solve strong-constraint 4DVar for the initial state x0, starting from the background.

    Arguments:
        problem: one problem (vmap this function for a batch: it is jitted and pure).
        solver: "gauss-newton" (fast default), "levenberg-marquardt" or "bfgs" (the reference's).
        max_steps: iteration cap (static: each new value compiles once); default per solver.

    Returns:
        `Analysis4DVar` with `x0`, `converged`, `num_steps`, `cost` and the optimistix `status`.
        A solve that hit the cap or failed comes back with `converged=False`, never silently.
    """
    check_choice("solver", solver, SOLVERS)
    max_steps = DEFAULT_MAX_STEPS[solver] if max_steps is None else max_steps
    check_range("max_steps", max_steps, 1, 100_000, integer=True)
    return _strong_4dvar(problem, solver, int(max_steps))


def describe_status(status: int) -> str:
    """A few human words for a status code of `Analysis4DVar`."""
    return {STATUS_CONVERGED: "converged", STATUS_MAX_STEPS: "hit the iteration cap"}.get(
        int(status), "failed (diverged or not finite)"
    )
