"""Strong-constraint 4DVar over the initial state: its cost and its solves (Gauss-Newton, LM, BFGS, quasi-static).

The cost (the reference notebook's, tests/test_fourdvar.py), with a diagonal B and R:

    J(x0) = 1/2 |(x0 - xb) / sigma_b|^2 + 1/2 sum_t |mask_t (M_t(x0) - y_t) / sigma_o|^2

It is a sum of squares, so the fast default hands its residual vector to a Gauss-Newton solve
(forward-mode Jacobian: the control has only n numbers, 3 on Lorenz-63); BFGS minimises the scalar cost as the
reference notebook does.

On long windows J stops being convex: chaos folds the map x0 -> trajectory, and a solve started
from the background falls into a wrong valley. The quasi-static solver (Pires, Vautard & Talagrand
1996) mends that: it minimises J over a short window first, then lengthens the window in stages,
each stage started from the last one's minimum, which stays inside the right valley as the valley
narrows. The window length is data (a time mask on the residuals), so one compile serves them all.

Every solve gets a verdict. At the right minimum twice the observation term, 2 J_o, follows a
chi-square law with about as many degrees of freedom m as observed values; a solve that stopped
far above it (see `chi_square_limit`) is a wrong minimum, reported with its own status.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int

from core._validate import check_choice, check_range
from core.da.method import STATUS_CONVERGED, STATUS_FAILED, STATUS_MAX_STEPS, STATUS_WRONG_MINIMUM
from core.setups.problems import Problem

SOLVERS = ("gauss-newton", "levenberg-marquardt", "bfgs", "quasi-static")
DEFAULT_MAX_STEPS = {"gauss-newton": 20, "levenberg-marquardt": 100, "bfgs": 2000, "quasi-static": 300}
# A perfect observation would give an infinite weight; this floor keeps noise-free twins solvable.
MIN_OBS_STD = 1e-2


class Analysis4DVar(eqx.Module):
    """The result of a strong-constraint 4DVar solve (fields gain a batch axis under vmap)."""

    x0: Float[Array, "... n"]
    converged: Bool[Array, "..."]
    num_steps: Int[Array, "..."]
    cost: Float[Array, "..."]
    status: Int[Array, "..."]  # STATUS_CONVERGED, STATUS_MAX_STEPS, STATUS_FAILED or STATUS_WRONG_MINIMUM


def residuals(x0: Float[Array, " n"], problem: Problem) -> Float[Array, " r"]:
    """The whitened residuals r with J(x0) = 1/2 |r|^2: background first (n of them), then the observations.

    The trajectory runs the methods' model, `problem.forward`, which may differ from the truth's system."""
    trajectory = problem.forward.rollout(x0, problem.T_assim)
    obs_std = jnp.maximum(problem.obs_noise, MIN_OBS_STD)
    misfit = problem.mask * (trajectory - problem.obs) / obs_std
    background = (x0 - problem.background_mean) / problem.background_std
    return jnp.concatenate([background, misfit.ravel()])


def cost(x0: Float[Array, " n"], problem: Problem) -> Float[Array, ""]:
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


# The verdict's threshold, in standard normal deviates of the chi-square law (Wilson-Hilferty):
# z = 4.75 is the one-sided 1e-6 tail, so a solve at the right minimum is flagged about once in a
# million by chance; `tests/test_long_window.py` measures the false and the missed flags.
CHI_SQUARE_Z = 4.75


def observation_statistic(x0: Float[Array, " n"], problem: Problem) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """Twice the observation term, 2 J_o(x0), and its degrees of freedom m (the observed values).

    At the right minimum 2 J_o lies between chi-square(m - n) (n numbers fitted, a weak background) and
    chi-square(m) (a background that pins x0): m is the bound that never flags a right minimum, whatever
    n. The n background residuals are left out because a background that misses the truth (the seed
    preset's) adds to J without any fault.
    """
    misfit = residuals(x0, problem)[x0.shape[-1] :]
    return jnp.sum(misfit**2), jnp.sum(problem.mask)


def chi_square_limit(dof: Float[Array, "..."], z: float = CHI_SQUARE_Z) -> Float[Array, "..."]:
    """The chi-square(dof) quantile z standard deviates up, plus 1 so a noise-free twin (2 J_o ~ 0,
    see MIN_OBS_STD) is never flagged for round-off.

    Wilson-Hilferty's cube-root normal approximation: traced `dof` is fine. At z = 4.75 it errs on
    the side of fewer flags: 15% above the exact quantile at 1 degree of freedom, under 3% from 10.
    """
    k = jnp.maximum(dof, 1.0)
    return k * (1.0 - 2.0 / (9.0 * k) + z * jnp.sqrt(2.0 / (9.0 * k))) ** 3 + 1.0


def wrong_minimum(x0: Float[Array, " n"], problem: Problem) -> Bool[Array, ""]:
    """True where 2 J_o(x0) is far above what the observation noise explains."""
    statistic, dof = observation_statistic(x0, problem)
    return ~(statistic <= chi_square_limit(dof))


def _verdict(x0, converged, num_steps, status, problem: Problem) -> Analysis4DVar:
    """A solve that says it converged but sits far above the chi-square law is a wrong minimum;
    a solve that hit the cap or failed keeps that status (it never claimed a minimum)."""
    final_cost = cost(x0, problem)
    converged = converged & jnp.isfinite(final_cost)
    status = jnp.where(converged, STATUS_CONVERGED, jnp.where(status == STATUS_CONVERGED, STATUS_FAILED, status))
    wrong = converged & wrong_minimum(x0, problem)
    return Analysis4DVar(
        x0=x0,
        converged=converged & ~wrong,
        num_steps=num_steps,
        cost=final_cost,
        status=jnp.where(wrong, STATUS_WRONG_MINIMUM, status).astype(jnp.int32),
    )


def _status_code(result) -> Int[Array, ""]:
    hit_cap = (result == optx.RESULTS.max_steps_reached) | (result == optx.RESULTS.nonlinear_max_steps_reached)
    return jnp.where(
        result == optx.RESULTS.successful, STATUS_CONVERGED, jnp.where(hit_cap, STATUS_MAX_STEPS, STATUS_FAILED)
    ).astype(jnp.int32)


@partial(jax.jit, static_argnames=("solver", "max_steps"))
def _strong_4dvar(problem: Problem, solver: str, max_steps: int) -> Analysis4DVar:
    if solver == "quasi-static":
        state = quasi_static_solve(problem, max_steps)
        status = jnp.where(state.done, STATUS_CONVERGED, STATUS_MAX_STEPS)
        return _verdict(state.x0, state.done, state.num_steps, status, problem)
    # BFGS minimises the scalar cost; the least-squares solvers take the residual vector.
    solve, objective = (optx.minimise, cost) if solver == "bfgs" else (optx.least_squares, residuals)
    # Optimistix's first step only evaluates the start (its value is accepted one step later), so
    # `max_steps` updates of x0 take `max_steps + 1` of its steps; we report updates.
    solution = solve(
        objective, _solver(solver), problem.background_mean, args=problem, max_steps=max_steps + 1, throw=False
    )
    converged = solution.result == optx.RESULTS.successful
    updates = jnp.maximum(solution.stats["num_steps"] - 1, 0)
    return _verdict(solution.value, converged, updates, _status_code(solution.result), problem)


# Quasi-static schedule. The first window (0.3 time units) and each stage's growth (0.2, about a
# fifth of a Lorenz-63 Lyapunov time, a third of a Lorenz-96 one) keep the valley found so far inside
# the next stage's valley; a stage ends when the step is below QS_STAGE_RTOL of |x0| (a warm start
# needs no more), the last one at the Gauss-Newton solver's 1e-4. In steps: 30 and 20 at dt = 0.01.
QS_FIRST_TIME = 0.3
QS_GROWTH_TIME = 0.2
QS_STAGE_RTOL = 1e-2
QS_FINAL_RTOL = 1e-4


class QuasiStaticState(eqx.Module):
    """The carry of the quasi-static Levenberg-Marquardt iteration (fields batch under vmap)."""

    x0: Float[Array, " n"]
    res: Float[Array, " r"]  # all residuals at x0, every time included
    jac: Float[Array, "r n"]
    length: Int[Array, ""]  # the current stage's window: residuals at times <= length count
    damping: Float[Array, ""]
    num_steps: Int[Array, ""]
    done: Bool[Array, ""]


def window_end(problem: Problem) -> Int[Array, ""]:
    """The last observed time index: a window padded with unobserved times ends where it did."""
    observed = jnp.any(problem.mask > 0, axis=-1)
    return jnp.max(jnp.where(observed, jnp.arange(observed.shape[0]), 0))


def _residuals_and_jacobian(x0, problem):
    jac, res = jax.jacfwd(lambda x: (residuals(x, problem),) * 2, has_aux=True)(x0)
    return res, jac


def _stage_weights(length, problem: Problem) -> Float[Array, " r"]:
    n = problem.obs.shape[-1]
    in_stage = (jnp.arange(problem.obs.shape[0]) <= length).astype(jnp.float32)
    return jnp.concatenate([jnp.ones(n), jnp.repeat(in_stage, n)])


def _in_steps(time: float, dt: float) -> int:
    return max(1, round(time / dt))


def quasi_static_start(problem: Problem) -> QuasiStaticState:
    """The iteration's start: the background, on the first stage's window."""
    x0 = problem.background_mean
    res, jac = _residuals_and_jacobian(x0, problem)
    length = jnp.minimum(_in_steps(QS_FIRST_TIME, problem.dt), window_end(problem))
    return QuasiStaticState(x0, res, jac, length, jnp.asarray(1e-3), jnp.asarray(0), jnp.asarray(False))


def quasi_static_iteration(state: QuasiStaticState, problem: Problem) -> QuasiStaticState:
    """One Levenberg-Marquardt trial on the current stage's window; at a stage's minimum, grow it.

    A finished state (`done`) comes back unchanged, so a fixed number of iterations in a scan
    (the landscape's iterate path) ends where the solver's while loop does.
    """
    weights = _stage_weights(state.length, problem)
    growth = _in_steps(QS_GROWTH_TIME, problem.dt)
    res, jac = weights * state.res, weights[:, None] * state.jac
    normal = jac.T @ jac
    # Marquardt's scaling: damping relative to each component's own curvature.
    step = -jnp.linalg.solve(normal + state.damping * jnp.diag(jnp.diag(normal)), jac.T @ res)
    trial = state.x0 + step
    trial_res, trial_jac = _residuals_and_jacobian(trial, problem)
    better = jnp.sum((weights * trial_res) ** 2) <= jnp.sum(res**2)
    better = better & jnp.all(jnp.isfinite(trial_res))
    x0 = jnp.where(better, trial, state.x0)
    small = jnp.linalg.norm(step) <= jnp.where(state.length >= window_end(problem), QS_FINAL_RTOL, QS_STAGE_RTOL) * (
        jnp.linalg.norm(x0) + 1.0
    )
    # A stage ends at an accepted small step, or when no step helps any more (damping exhausted).
    stage_done = (better & small) | (state.damping > 1e8)
    last_stage = state.length >= window_end(problem)
    new = QuasiStaticState(
        x0=x0,
        res=jnp.where(better, trial_res, state.res),
        jac=jnp.where(better, trial_jac, state.jac),
        length=jnp.where(stage_done, jnp.minimum(state.length + growth, window_end(problem)), state.length),
        damping=jnp.where(
            stage_done, 1e-3, jnp.where(better, jnp.maximum(state.damping * 0.3, 1e-6), state.damping * 10)
        ),
        num_steps=state.num_steps + 1,
        done=stage_done & last_stage,
    )
    return jax.tree_util.tree_map(lambda old, upd: jnp.where(state.done, old, upd), state, new)


def quasi_static_solve(problem: Problem, max_steps: int) -> QuasiStaticState:
    """Quasi-static 4DVar: Levenberg-Marquardt on a window grown in stages, up to `max_steps` trials."""
    return jax.lax.while_loop(
        lambda s: ~s.done & (s.num_steps < max_steps),
        lambda s: quasi_static_iteration(s, problem),
        quasi_static_start(problem),
    )


def strong_4dvar(problem: Problem, *, solver: str = "gauss-newton", max_steps: int | None = None) -> Analysis4DVar:
    """Solve strong-constraint 4DVar for the initial state x0, starting from the background.

    Arguments:
        problem: one problem (vmap this function for a batch: it is jitted and pure).
        solver: "gauss-newton" (fast default), "levenberg-marquardt", "bfgs" (the reference's) or
            "quasi-static" (the window grown in stages: right on long windows, see `quasi_static_solve`).
        max_steps: the most updates of x0 (Gauss-Newton and Levenberg-Marquardt iterations, BFGS
            line-search trials; static: each new value compiles once); default per solver.

    Returns:
        `Analysis4DVar` with `x0`, `converged`, `num_steps`, `cost` and `status`. A solve that hit
        the cap, failed, or stopped far above the chi-square law of the observation term (a wrong
        minimum) comes back with `converged=False`, never silently.
    """
    check_choice("solver", solver, SOLVERS)
    max_steps = DEFAULT_MAX_STEPS[solver] if max_steps is None else max_steps
    check_range("max_steps", max_steps, 1, 100_000, integer=True)
    return _strong_4dvar(problem, solver, int(max_steps))
