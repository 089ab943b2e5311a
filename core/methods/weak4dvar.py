"""Weak-constraint 4DVar: the control is the whole window trajectory, and the model may err.

The cost over the states x_0 .. x_T (n variables each), with a diagonal B and R:

    J(x) = 1/2 |(x_0 - xb) / sigma_b|^2 + 1/2 sum_t |mask_t (x_t - y_t) / sigma_o|^2
         + 1/2 sum_{t=1..T} |x_t - M(x_{t-1})|^2 / (q dt)

q is the model-error variance per unit time (Q_step = q dt I per step); q -> 0 is strong 4DVar.

J is a sum of squares whose Jacobian is block bidiagonal (I on the diagonal, -M'_t below it,
M'_t = dM/dx at x_{t-1}), so the Gauss-Newton matrix H = J^T J is block tridiagonal with n x n
blocks. Each Gauss-Newton step solves H dx = -g by block-tridiagonal elimination (a block Cholesky
sweep forward, back-substitution backward, both `lax.scan`s: the smoother's forward-backward pass);
the tangent-linear blocks of all steps come at once from `vmap(jacfwd(system.step))`. Nothing of
size nT x nT is ever formed. The same sweep gives the diagonal blocks of H^-1, the Gauss-Newton
posterior covariance of each state (exact for a linear model: the Kalman smoother's).

On a chaotic window the cost has more than one valley, and Gauss-Newton from the background's free
run can end in a wrong one, as strong 4DVar's does. The default schedule is quasi-static (Pires,
Vautard & Talagrand 1996, as `fourdvar.quasi_static_solve`): the observations count up to a time that
grows in stages of 0.2 time units, each stage started from the last one's minimum, the states past it
carried by the model. On 24 Lorenz-96 twins (n = 40, 2 time units, half observed every 2 steps) it
reached the right valley (RMSE < 0.6) in 22, against 16 for one solve over the whole window.

A matrix-free alternative (`inner="cg"`: lineax CG on H as a `FunctionLinearOperator`) is kept for
comparison; `docs/bench_weak4dvar.py` times both. The elimination is the default: it is exact in one
pass whatever the conditioning, whereas unpreconditioned CG in float32 needs thousands of iterations
as H's condition number grows like 1 / (q dt) (Lorenz-63, T = 100, q = 0.1: ~1.5 s a window and 2
solves in 3 lost, against ~6 ms for the elimination), and the elimination gives the posterior std.

The verdict is strong 4DVar's (`fourdvar.chi_square_limit`): for a linear-Gaussian problem 2 J at
the minimum follows chi-square(m) exactly, m the number of observed values (n (T+1) controls fit
n + m + nT residuals), so 2 (J_o + J_q), which leaves out the background term as strong 4DVar does,
stays below that law; a converged solve far above it is a wrong minimum (or a q far too small).

Float32: the elimination subtracts terms of size 1 / (q dt) to leave terms of size sigma_o^-2, so as
q -> 0 float32 loses the digits that tell weak from strong: there use float64 (the q -> 0 test does)
or strong 4DVar.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Bool, Float, Int

from core._validate import check_choice, check_range
from core.da.method import STATUS_CONVERGED, STATUS_FAILED, STATUS_MAX_STEPS, STATUS_WRONG_MINIMUM
from core.methods.block_tridiagonal import (
    Blocks,
    apply_blocks,
    block_solve,
    eliminate,
    posterior_variances,
)
from core.methods.fourdvar import MIN_OBS_STD, chi_square_limit
from core.setups.problems import Problem
from core.systems.lorenz import AbstractSystem

DEFAULT_MAX_STEPS = 300  # Gauss-Newton steps over all quasi-static stages (a stage takes ~3)
# q's allowed range (variance per unit time): above 0 (q = 0 is strong 4DVar: use it), below a
# model error that would swamp any attractor (std 100 per unit time).
Q_MIN = 1e-12
Q_MAX = 1e4
INNER_SOLVERS = ("block-tridiagonal", "cg")
# A step below 1e-4 of the trajectory's rms (plus 1e-4 absolute), as strong 4DVar's Gauss-Newton.
RTOL = 1e-4
ATOL = 1e-4


class WeakAnalysis(eqx.Module):
    """The result of a weak-constraint 4DVar solve (fields gain a batch axis under vmap)."""

    window: Float[Array, "T_plus_1 n"]
    std: Float[Array, "T_plus_1 n"]  # sqrt of the diagonal of the Gauss-Newton posterior covariance
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]  # Gauss-Newton updates of the trajectory
    cost: Float[Array, ""]
    status: Int[Array, ""]


def _model_std(q, system: AbstractSystem):
    return jnp.sqrt(q * system.dt)


def weak_residuals(
    trajectory: Float[Array, "T_plus_1 n"], problem: Problem, system: AbstractSystem, q: Float[Array, ""]
) -> tuple[Float[Array, " n"], Float[Array, "T_plus_1 n"], Float[Array, "T n"]]:
    """The whitened residuals (background, observations, model misfit) with J = 1/2 their squares."""
    obs_std = jnp.maximum(problem.obs_noise, MIN_OBS_STD)
    background = (trajectory[0] - problem.background_mean) / problem.background_std
    observations = problem.mask * (trajectory - problem.obs) / obs_std
    model = (trajectory[1:] - system.step(trajectory[:-1])) / _model_std(q, system)
    return background, observations, model


def weak_cost(
    trajectory: Float[Array, "T_plus_1 n"], problem: Problem, system: AbstractSystem, q: Float[Array, ""]
) -> Float[Array, ""]:
    """The weak-constraint 4DVar cost J of a whole window trajectory."""
    return 0.5 * sum(jnp.sum(r**2) for r in weak_residuals(trajectory, problem, system, q))


def gauss_newton_blocks(
    trajectory: Float[Array, "T_plus_1 n"], problem: Problem, system: AbstractSystem, q: Float[Array, ""]
) -> Blocks:
    """H's blocks and the gradient of J, from the tangent-linear model of every step at once."""
    n = trajectory.shape[-1]
    states = trajectory[:-1]
    predicted, tlm = jax.vmap(lambda x: jax.jacfwd(lambda s: (system.step(s),) * 2, has_aux=True)(x)[::-1])(states)
    precision = 1.0 / (q * system.dt)  # Q_step^-1 = I / (q dt)
    obs_weight = (problem.mask / jnp.maximum(problem.obs_noise, MIN_OBS_STD)) ** 2
    eye = jnp.eye(n, dtype=trajectory.dtype)
    diagonal = obs_weight[:, :, None] * eye
    diagonal = diagonal.at[0].add(jnp.diag(1.0 / problem.background_std**2))
    diagonal = diagonal.at[1:].add(precision * eye)
    diagonal = diagonal.at[:-1].add(precision * jnp.einsum("tki,tkj->tij", tlm, tlm))
    misfit = trajectory[1:] - predicted
    gradient = obs_weight * (trajectory - problem.obs)
    gradient = gradient.at[0].add((trajectory[0] - problem.background_mean) / problem.background_std**2)
    gradient = gradient.at[1:].add(precision * misfit)
    gradient = gradient.at[:-1].add(-precision * jnp.einsum("tki,tk->ti", tlm, misfit))
    return Blocks(diagonal=diagonal, lower=-precision * tlm, gradient=gradient)


def _cg_step(blocks: Blocks) -> Float[Array, "T_plus_1 n"]:
    """The Gauss-Newton step by matrix-free CG (lineax), for comparison with the elimination."""
    operator = lx.FunctionLinearOperator(
        partial(apply_blocks, blocks),
        jax.ShapeDtypeStruct(blocks.gradient.shape, blocks.gradient.dtype),
        tags=lx.positive_semidefinite_tag,
    )
    solver = lx.CG(rtol=1e-6, atol=1e-6, max_steps=10_000)
    return lx.linear_solve(operator, -blocks.gradient, solver, throw=False).value


class _Iterate(eqx.Module):
    trajectory: Float[Array, "T_plus_1 n"]
    blocks: Blocks  # at `trajectory`, on the current stage's window
    length: Int[Array, ""]  # the stage's window: observations at times <= length count
    damping: Float[Array, ""]  # Marquardt's lambda, raised only after a step that was not finite
    num_steps: Int[Array, ""]
    done: Bool[Array, ""]
    stuck: Bool[Array, ""]


def _rms(x):
    return jnp.sqrt(jnp.mean(x**2))


def _damped(blocks: Blocks, damping) -> Blocks:
    """H + lambda diag(H) (Marquardt's scaling): still block tridiagonal."""
    scaled = damping * jnp.diagonal(blocks.diagonal, axis1=-2, axis2=-1)
    return eqx.tree_at(lambda b: b.diagonal, blocks, blocks.diagonal + jax.vmap(jnp.diag)(scaled))


def _staged(problem: Problem, length) -> Problem:
    """The problem with the observations after `length` left out (the model term still spans the window)."""
    in_stage = (jnp.arange(problem.mask.shape[-2]) <= length).astype(problem.mask.dtype)
    return eqx.tree_at(lambda p: p.mask, problem, problem.mask * in_stage[:, None])


def _free_tail(trajectory: Float[Array, "T_plus_1 n"], length, system: AbstractSystem) -> Float[Array, "T_plus_1 n"]:
    """States after `length` replaced by the model's run from x_length: past the stage nothing but the
    model speaks, and a Gauss-Newton step there (a linearised chaotic run) would only blow up."""

    def body(previous, inputs):
        t, state = inputs
        state = jnp.where(t > length, system.step(previous), state)
        return state, state

    times = jnp.arange(1, trajectory.shape[-2])
    _, tail = jax.lax.scan(body, trajectory[0], (times, trajectory[1:]))
    return jnp.concatenate([trajectory[:1], tail])


# Full Gauss-Newton steps are taken whether or not J falls: on chaotic windows a monotone
# (Levenberg-Marquardt) descent from the background's free run stalled in a wrong valley twice as
# often (Lorenz-96, 24 twins). Only a step that is not finite is refused, and the next one damped.
DAMPING_FIRST = 1e-3
DAMPING_CEILING = 1e8
# The quasi-static schedule (as `fourdvar.quasi_static_solve`, in time units so that it suits any
# dt): the first stage and each growth span 0.2 time units, a fifth of a Lorenz-63 Lyapunov time
# and a third of a Lorenz-96 one; a stage ends at a step below QS_STAGE_RTOL of the trajectory.
QS_GROWTH_TIME = 0.2
QS_STAGE_RTOL = 1e-2


@partial(jax.jit, static_argnames=("max_steps", "inner", "quasi_static"))
def _weak_4dvar(
    problem: Problem, system: AbstractSystem, q, max_steps: int, inner: str, quasi_static: bool = False
) -> WeakAnalysis:
    q = jnp.asarray(q, problem.obs.dtype)
    last = problem.obs.shape[-2] - 1
    growth = max(1, round(QS_GROWTH_TIME / system.dt)) if quasi_static else last

    def body(state: _Iterate) -> _Iterate:
        damped = _damped(state.blocks, state.damping)
        step = _cg_step(damped) if inner == "cg" else block_solve(eliminate(damped), -damped.gradient)
        finite = jnp.all(jnp.isfinite(step))
        trajectory = jnp.where(finite, state.trajectory + step, state.trajectory)
        last_stage = state.length >= last
        rtol = jnp.where(last_stage, RTOL, QS_STAGE_RTOL)
        small = finite & (_rms(step) <= rtol * _rms(trajectory) + ATOL)
        length = jnp.where(small, jnp.minimum(state.length + growth, last), state.length)
        if quasi_static:
            trajectory = _free_tail(trajectory, state.length, system)
        damping = jnp.where(finite, 0.0, jnp.maximum(state.damping * 10.0, DAMPING_FIRST))
        return _Iterate(
            trajectory=trajectory,
            blocks=gauss_newton_blocks(trajectory, _staged(problem, length), system, q),
            length=length,
            damping=damping,
            num_steps=state.num_steps + 1,
            done=small & last_stage,
            stuck=damping > DAMPING_CEILING,
        )

    # The start: the background's free run, as strong 4DVar starts from the background.
    start = system.rollout(problem.background_mean, last)
    length = jnp.asarray(min(growth, last))
    first = _Iterate(
        trajectory=start,
        blocks=gauss_newton_blocks(start, _staged(problem, length), system, q),
        length=length,
        damping=jnp.zeros((), q.dtype),
        num_steps=jnp.asarray(0),
        done=jnp.asarray(False),
        stuck=jnp.asarray(False),
    )
    final = jax.lax.while_loop(lambda s: ~s.done & ~s.stuck & (s.num_steps < max_steps), body, first)
    trajectory = final.trajectory
    background, observations, model = weak_residuals(trajectory, problem, system, q)
    final_cost = 0.5 * (jnp.sum(background**2) + jnp.sum(observations**2) + jnp.sum(model**2))
    # At the last stage the blocks are the whole problem's, at the final trajectory.
    variances = posterior_variances(eliminate(gauss_newton_blocks(trajectory, problem, system, q)))
    finite = jnp.isfinite(final_cost) & jnp.all(jnp.isfinite(trajectory)) & jnp.all(jnp.isfinite(variances))
    converged = final.done & finite
    statistic = jnp.sum(observations**2) + jnp.sum(model**2)  # 2 (J_o + J_q)
    wrong = converged & ~(statistic <= chi_square_limit(jnp.sum(problem.mask)))
    capped = finite & ~final.stuck
    status = jnp.where(converged, STATUS_CONVERGED, jnp.where(capped, STATUS_MAX_STEPS, STATUS_FAILED))
    return WeakAnalysis(
        window=trajectory,
        std=jnp.sqrt(jnp.maximum(variances, 0.0)),
        converged=converged & ~wrong,
        num_steps=final.num_steps,
        cost=final_cost,
        status=jnp.where(wrong, STATUS_WRONG_MINIMUM, status).astype(jnp.int32),
    )


def check_weak_settings(q, max_steps: int, inner: str = "block-tridiagonal") -> None:
    """Refuse a bad q, cap or inner solver with a message naming it and its range (before any work)."""
    check_range("q (model-error variance per unit time)", q, Q_MIN, Q_MAX)
    check_range("max_steps", max_steps, 1, 100_000, integer=True)
    check_choice("inner", inner, INNER_SOLVERS)


def weak_4dvar(
    problem: Problem,
    q: float | Float[Array, ""],
    *,
    system: AbstractSystem | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    inner: str = "block-tridiagonal",
    quasi_static: bool = True,
) -> WeakAnalysis:
    """Solve weak-constraint 4DVar for the whole window trajectory by Gauss-Newton.

    Arguments:
        problem: one problem (vmap `_weak_4dvar` for a batch). Its arrays may have any number n of
            variables on their last axis.
        q: the model-error variance per unit time (Q_step = q dt I); traced, so a new q reuses the
            compiled solve. Between `Q_MIN` and `Q_MAX`.
        system: the methods' model M; None for `problem.forward`.
        max_steps: the most Gauss-Newton updates (static: each new cap compiles once).
        inner: "block-tridiagonal" (exact elimination, the default) or "cg" (matrix-free lineax CG).
        quasi_static: grow the observed window in stages of 0.2 time units, each started from the last
            one's minimum with the states after it carried by the model (static). False: one Gauss-Newton
            solve over the whole window from the background's free run (fine on short windows).

    Returns:
        `WeakAnalysis`: the trajectory, its posterior std, converged, num_steps, cost and status
        (a cap, a failure or a wrong minimum comes back with `converged=False`).

    Raises:
        ValueError: q, max_steps or inner out of range; the message names it and the allowed range.
    """
    check_weak_settings(q, max_steps, inner)
    system = problem.forward if system is None else system
    return _weak_4dvar(problem, system, jnp.asarray(q), int(max_steps), inner, bool(quasi_static))
