"""Uncertainty of a strong-4DVar analysis: the Gauss-Newton posterior of x0, carried along the run.

The 4DVar cost is J(x0) = 1/2 |r(x0)|^2 with whitened residuals r (`fourdvar.residuals`). Near its
minimum the posterior of x0 is Gaussian with covariance P0 = (G^T G)^{-1}, G = dr/dx0 (the Gauss-Newton
Hessian, exact for a linear model). The tangent-linear model carries it to every time:
P_t = M_t P0 M_t^T with M_t = dx_t/dx0 (forward mode, n directions: 3 on Lorenz-63), so the band is +-2 sqrt(diag P_t)
over the window and the forecast.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from core.methods.fourdvar import residuals, strong_4dvar
from core.setups.problems import Problem, generate_problems


def _posterior_covariance(x0: Float[Array, " n"], problem: Problem) -> Float[Array, "n n"]:
    jac = jax.jacfwd(residuals)(x0, problem)  # (n_residuals, n)
    return jnp.linalg.inv(jac.T @ jac)


def _tangent_linear_std(x0, cov0, problem: Problem):
    def rollout(x):
        return problem.forward.rollout(x, problem.T_total)

    tlm = jax.jacfwd(rollout)(x0)  # (T_total + 1, n, n): M_t for every t
    cov_t = jnp.einsum("tij,jk,tlk->til", tlm, cov0, tlm)
    return jnp.sqrt(jnp.maximum(jnp.diagonal(cov_t, axis1=1, axis2=2), 0.0))


@jax.jit
def posterior_covariance(x0: Float[Array, " n"], problem: Problem) -> Float[Array, "n n"]:
    """The inverse Gauss-Newton Hessian of the strong-4DVar cost at `x0`: the posterior covariance of x0.

    Arguments:
        x0: the analysed initial state (e.g. `strong_4dvar(problem).x0`).
        problem: the problem it was solved on (its B, R, mask).

    Returns:
        `(n, n)` covariance.
    """
    return _posterior_covariance(x0, problem)


@jax.jit
def posterior_std(x0: Float[Array, " n"], problem: Problem) -> Float[Array, "T_total_plus_1 n"]:
    """The posterior standard deviation of every state of the run, window and forecast.

    `posterior_covariance` carried by the tangent-linear model of the rollout from `x0`.

    Arguments:
        x0: the analysed initial state.
        problem: the problem.

    Returns:
        `(T_total + 1, n)` standard deviations, aligned with `problem.truth`.
    """
    return _tangent_linear_std(x0, _posterior_covariance(x0, problem), problem)


@jax.jit
def _batch_coverage(problems: Problem, n_sigma):
    def one(problem):
        analysis = strong_4dvar(problem)
        std = _tangent_linear_std(analysis.x0, _posterior_covariance(analysis.x0, problem), problem)
        trajectory = problem.forward.rollout(analysis.x0, problem.T_total)
        inside = jnp.abs(trajectory - problem.truth) <= n_sigma * std
        return inside[: problem.T_assim + 1], analysis.converged

    return jax.vmap(one)(problems)


def band_coverage(
    n_problems: int = 256,
    *,
    key: int = 0,
    n_sigma: float = 2.0,
    obs_every: int = 5,
    obs_noise: float = 0.5,
    T_assim: int = 50,
) -> dict:
    """The share of truth points inside the +-n_sigma band over the window, over many attractor problems.

    Arguments:
        n_problems: default attractor problems from `generate_problems(PRNGKey(key), ...)`.
        key: PRNG key.
        n_sigma: the band's half-width in standard deviations (2: a Gaussian would give 0.954).
        obs_every, obs_noise, T_assim: the problems' settings.

    Returns:
        `coverage` (all problems), `coverage_converged` (4DVar solves that converged), `per_component`,
        `problem_coverage_p10` (the 10th percentile over problems), `n_problems`, `n_converged`.
    """
    problems = generate_problems(
        jax.random.PRNGKey(key), n_problems, obs_every=obs_every, obs_noise=obs_noise, T_assim=T_assim
    )
    inside, converged = _batch_coverage(problems, jnp.asarray(n_sigma, jnp.float32))
    inside, converged = np.asarray(inside), np.asarray(converged)
    per_problem = inside.mean(axis=(1, 2))
    return {
        "coverage": float(inside.mean()),
        "coverage_converged": float(inside[converged].mean()) if converged.any() else float("nan"),
        "per_component": [float(v) for v in inside.mean(axis=(0, 1))],
        "problem_coverage_p10": float(np.percentile(per_problem, 10)),
        "n_problems": int(n_problems),
        "n_converged": int(converged.sum()),
        "n_sigma": float(n_sigma),
    }
