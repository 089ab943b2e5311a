"""The 4DVar cost landscape: J(x0) over a plane through the true x0, and the solvers' paths on it.

Weak 4DVar's path (`weak_4dvar_walk`) is the first state x_0 of each of its Gauss-Newton iterates: its
control is the whole trajectory, so the strong cost drawn here is not the one it descends.

Window length is data here: a problem is padded with unobserved times up to `MAX_WINDOW` steps
(`pad_problem`), which leaves J unchanged (masked residuals are zero), so the grid and every path
compile once, at module level, for all window lengths 1..MAX_WINDOW. The price: a 50-step window
rolls out 300 steps (see `python -m core windows --landscape` for the measured times).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from core._validate import check_choice, check_range
from core.methods.block_tridiagonal import Blocks, block_solve, eliminate
from core.methods.fourdvar import (
    _solver,
    chi_square_limit,
    cost,
    quasi_static_iteration,
    quasi_static_start,
    residuals,
)
from core.methods.weak4dvar import (
    ATOL,
    DAMPING_CEILING,
    DAMPING_FIRST,
    DEFAULT_MAX_STEPS,
    QS_GROWTH_TIME,
    QS_STAGE_RTOL,
    RTOL,
    _damped,
    _free_tail,
    _Iterate,
    _staged,
    check_weak_settings,
    gauss_newton_blocks,
    weak_residuals,
)
from core.methods.weak_variational import DEFAULT_Q
from core.nets.fourdvarnet import FourDVarNet
from core.setups.problems import Problem

MAX_WINDOW = 300
PLANES = {"x-y": (0, 1), "x-z": (0, 2), "y-z": (1, 2)}
PATH_SOLVERS = ("gauss-newton", "bfgs", "quasi-static")
PATH_LENGTH = 300  # iterations drawn: Gauss-Newton and quasi-static settle well before; BFGS mostly


class Landscape(eqx.Module):
    """J over a `(n, n)` grid; rows follow the plane's second component, columns its first."""

    first: Float[Array, " n"]  # the plane's first component's values (columns)
    second: Float[Array, " n"]  # its second component's values (rows)
    cost: Float[Array, "n n"]
    centre: Float[Array, "3"]  # the true x0: the grid's centre, and the third component's value
    axes: tuple[int, int] = eqx.field(static=True)


def pad_problem(problem: Problem, window: int = MAX_WINDOW) -> Problem:
    """The same problem with its window padded by unobserved times to `window` steps (J unchanged).

    Raises:
        ValueError: the problem's window is longer than `window`, or its run is shorter.
    """
    check_range("window", window, problem.T_assim, min(problem.T_total, 10_000), integer=True)
    extra = ((0, window - problem.T_assim), (0, 0))
    # dataclasses.replace keeps every other field: the methods' model, the truth's, its noise.
    return dataclasses.replace(
        problem, obs=jnp.pad(problem.obs, extra), mask=jnp.pad(problem.mask, extra), T_assim=window
    )


def cost_landscape(problem: Problem, plane: str = "x-y", extent: float = 3.0, n: int = 64) -> Landscape:
    """J(x0) on an `n` x `n` grid through the true x0, `extent` background stds either side.

    Arguments:
        problem: one problem, window 1..MAX_WINDOW steps (padded here: one compile for all).
        plane: "x-y", "x-z" or "y-z"; the third component stays at its true value.
        extent: half-width of the grid in units of the background standard deviation.
        n: grid points per side (static: each n compiles once).

    Returns:
        A `Landscape`: the two components' grid values, J on the grid (rows: the second
        component), the true x0 and the plane's component indices.

    Raises:
        ValueError: a bad plane, extent or n (the message names it).
    """
    check_choice("plane", plane, tuple(PLANES))
    check_range("extent", extent, 0.01, 10.0)
    check_range("n", n, 2, 512, integer=True)
    axes = PLANES[plane]
    centre = problem.truth[0]
    first, second, grid = _grid(pad_problem(problem), jnp.asarray(axes), jnp.asarray(extent, jnp.float32), n)
    return Landscape(first=first, second=second, cost=grid, centre=centre, axes=axes)


@partial(jax.jit, static_argnames=("n",))
def _grid(problem: Problem, axes: Int[Array, "2"], extent, n: int):
    centre = problem.truth[0]
    offsets = jnp.linspace(-1.0, 1.0, n) * extent
    first = centre[axes[0]] + offsets * problem.background_std[axes[0]]
    second = centre[axes[1]] + offsets * problem.background_std[axes[1]]
    b, a = jnp.meshgrid(second, first, indexing="ij")
    points = jnp.broadcast_to(centre, (n * n, 3)).at[:, axes[0]].set(a.ravel()).at[:, axes[1]].set(b.ravel())
    costs = jax.vmap(cost, in_axes=(0, None))(points, problem)
    return first, second, costs.reshape(n, n)


class SolverWalk(eqx.Module):
    """A solver's iterates and whether it broke down (a step that was not finite) on the way."""

    path: Float[Array, "m 3"]  # (PATH_LENGTH + 1, 3), repeating its last point once it stops
    broke_down: Bool[Array, ""]  # a step came out NaN/inf (e.g. a singular Gauss-Newton system)


def solver_walk(problem: Problem, solver: str) -> SolverWalk:
    """A 4DVar solver's iterates from the background, and whether it stopped because it broke down.

    The same solvers, tolerances and starts as `strong_4dvar` (optimistix's own init/step for
    Gauss-Newton and BFGS, stepped in a scan; the quasi-static iteration itself). A solver that
    breaks down stops at its last finite iterate: with `broke_down` and no step taken, it failed at
    its first step (a long window's Gauss-Newton from the background, whose system is singular).

    Raises:
        ValueError: an unknown solver, or a window longer than MAX_WINDOW.
    """
    check_choice("solver", solver, PATH_SOLVERS)
    path, broke_down = _path(pad_problem(problem), solver)
    return SolverWalk(path=path, broke_down=broke_down)


def solver_path(problem: Problem, solver: str) -> Float[Array, "m 3"]:
    """A 4DVar solver's iterates from the background: `(PATH_LENGTH + 1, 3)`, repeating once it stops
    (`solver_walk` also says whether it broke down).

    Raises:
        ValueError: an unknown solver, or a window longer than MAX_WINDOW.
    """
    return solver_walk(problem, solver).path


@partial(jax.jit, static_argnames=("solver",))
def _path(problem: Problem, solver: str):
    if solver == "quasi-static":

        def body(state, _):
            state = quasi_static_iteration(state, problem)
            return state, state.x0

        start = quasi_static_start(problem)
        _, xs = jax.lax.scan(body, start, None, length=PATH_LENGTH)
        return jnp.concatenate([start.x0[None], xs]), ~jnp.all(jnp.isfinite(xs))
    objective = cost if solver == "bfgs" else residuals
    optimiser = _solver(solver)
    fn = lambda y, args: (objective(y, args), None)
    y0 = problem.background_mean
    f_struct = jax.eval_shape(lambda: objective(y0, problem))
    # The solver state holds closure-converted functions: carry its arrays, keep the rest aside.
    arrays, static = eqx.partition(optimiser.init(fn, y0, problem, {}, f_struct, None, frozenset()), eqx.is_array)

    def body(carry, _):
        y, arrays, stopped, broke_down = carry
        state = eqx.combine(arrays, static)
        done, _ = optimiser.terminate(fn, y, problem, {}, state, frozenset())
        new_y, new_state, _ = optimiser.step(fn, y, problem, {}, state, frozenset())
        # A solver that breaks down (a singular Gauss-Newton system: NaN) stops where it was.
        breaks = ~stopped & ~done & ~jnp.all(jnp.isfinite(new_y))
        stopped = stopped | done | breaks
        new_arrays = eqx.filter(new_state, eqx.is_array)
        y = jnp.where(stopped, y, new_y)
        arrays = jax.tree_util.tree_map(lambda old, upd: jnp.where(stopped, old, upd), arrays, new_arrays)
        return (y, arrays, stopped, broke_down | breaks), y

    start = (y0, arrays, jnp.asarray(False), jnp.asarray(False))
    (_, _, _, broke_down), ys = jax.lax.scan(body, start, None, length=PATH_LENGTH)
    return jnp.concatenate([y0[None], ys]), broke_down


class WeakWalk(eqx.Module):
    """Weak 4DVar's first state x_0 after each Gauss-Newton step, and how the solve ended."""

    path: Float[Array, "m 3"]  # (DEFAULT_MAX_STEPS + 1, 3), repeating its last point once it stops
    num_steps: Int[Array, ""]  # Gauss-Newton updates taken (as `WeakAnalysis.num_steps`)
    converged: Bool[Array, ""]  # the last stage's step fell below tolerance (no chi-square verdict)
    broke_down: Bool[Array, ""]  # steps kept coming out not finite (its damping hit the ceiling)
    # Converged where 2 (J_o + J_q) is beyond the chi-square law's limit: `weak_4dvar`'s own verdict
    # (status STATUS_WRONG_MINIMUM), not the strong cost drawn under the path.
    wrong_minimum: Bool[Array, ""]


def weak_4dvar_walk(problem: Problem, q: float | Float[Array, ""] = DEFAULT_Q) -> WeakWalk:
    """Weak 4DVar's iterates, as `weak_4dvar(problem, q)` takes them (quasi-static, elimination, the
    default cap), recorded as the first state of each: the path starts at the background's mean (the
    first state of its free run) and ends at `weak_4dvar(problem, q).window[0]`.

    The problem is padded to MAX_WINDOW steps with its true length traced, and q is traced, so every
    window length and q share one compile. The padded states are cut out of each Gauss-Newton system
    (`_window_only`), so the window's steps are weak 4DVar's own, to round-off.

    Arguments:
        problem: one Lorenz-63 problem, window 1..MAX_WINDOW steps; its `forward` is weak 4DVar's model.
        q: the model-error variance per unit time (the Explore tab's weak 4DVar uses `DEFAULT_Q`).

    Raises:
        ValueError: q out of range, or a window longer than MAX_WINDOW (the message names it).
    """
    check_weak_settings(q, DEFAULT_MAX_STEPS)
    padded = pad_problem(problem)
    return _weak_walk(padded, jnp.asarray(q), jnp.asarray(problem.T_assim, jnp.int32))


def _window_only(blocks: Blocks, trajectory: Float[Array, "T_plus_1 n"], last, system, q) -> Blocks:
    """The Gauss-Newton system of the states 0..`last` alone, the padded states after it left fixed.

    Why not keep them: their model term couples them to the window through the tangent-linear model,
    which over a long free run grows past float32 (from a background on the z axis, the origin's
    unstable direction: NaN at a 300-step padding), and in exact arithmetic they change nothing.
    So the state `last` loses its coupling to the next one (H's term M'^T M' / (q dt) and the gradient's
    -M'^T misfit / (q dt), both written with `lower`, which is -M' / (q dt)), and after it H is I, g is 0.
    """
    steps = blocks.lower.shape[0]
    i = jnp.minimum(last, steps - 1)
    has_tail = last < steps
    coupling = blocks.lower[i]  # H_{last+1, last} = -M' / (q dt)
    misfit = trajectory[i + 1] - system.step(trajectory[i])
    precision = 1.0 / (q * system.dt)
    diagonal = blocks.diagonal.at[i].add(jnp.where(has_tail, -coupling.T @ coupling / precision, 0.0))
    gradient = blocks.gradient.at[i].add(jnp.where(has_tail, -coupling.T @ misfit, 0.0))
    after = jnp.arange(steps + 1) > last
    eye = jnp.eye(diagonal.shape[-1], dtype=diagonal.dtype)
    return Blocks(
        diagonal=jnp.where(after[:, None, None], eye, diagonal),
        lower=jnp.where(after[1:, None, None], 0.0, blocks.lower),
        gradient=jnp.where(after[:, None], 0.0, gradient),
    )


@jax.jit
def _weak_walk(problem: Problem, q, last) -> WeakWalk:
    # `core.methods.weak4dvar._weak_4dvar`'s loop with `last` (the window's end) traced rather than
    # the array's length: the padding cut out of each system, the step's size measured on the window.
    system = problem.forward
    q = jnp.asarray(q, problem.obs.dtype)
    growth = max(1, round(QS_GROWTH_TIME / system.dt))
    in_window = (jnp.arange(problem.obs.shape[-2]) <= last)[:, None]
    count = (last + 1) * problem.obs.shape[-1]

    def blocks_at(trajectory, length):
        return _window_only(
            gauss_newton_blocks(trajectory, _staged(problem, length), system, q), trajectory, last, system, q
        )

    def window_rms(x):
        return jnp.sqrt(jnp.sum(jnp.where(in_window, x, 0.0) ** 2) / count)

    def step(state: _Iterate) -> _Iterate:
        damped = _damped(state.blocks, state.damping)
        dx = block_solve(eliminate(damped), -damped.gradient)
        finite = jnp.all(jnp.isfinite(jnp.where(in_window, dx, 0.0)))
        trajectory = jnp.where(finite, state.trajectory + dx, state.trajectory)
        last_stage = state.length >= last
        rtol = jnp.where(last_stage, RTOL, QS_STAGE_RTOL)
        small = finite & (window_rms(dx) <= rtol * window_rms(trajectory) + ATOL)
        length = jnp.where(small, jnp.minimum(state.length + growth, last), state.length)
        trajectory = _free_tail(trajectory, state.length, system)
        damping = jnp.where(finite, 0.0, jnp.maximum(state.damping * 10.0, DAMPING_FIRST))
        return _Iterate(
            trajectory=trajectory,
            blocks=blocks_at(trajectory, length),
            length=length,
            damping=damping,
            num_steps=state.num_steps + 1,
            done=small & last_stage,
            stuck=damping > DAMPING_CEILING,
        )

    def body(state: _Iterate, _):
        # A stopped solve is carried unchanged (cond: no work spent on it), so the path repeats its end.
        state = jax.lax.cond(state.done | state.stuck, lambda s: s, step, state)
        return state, state.trajectory[0]

    start = system.rollout(problem.background_mean, problem.obs.shape[-2] - 1)
    length = jnp.minimum(growth, last)
    first = _Iterate(
        trajectory=start,
        blocks=blocks_at(start, length),
        length=length,
        damping=jnp.zeros((), q.dtype),
        num_steps=jnp.asarray(0),
        done=jnp.asarray(False),
        stuck=jnp.asarray(False),
    )
    final, firsts = jax.lax.scan(body, first, None, length=DEFAULT_MAX_STEPS)
    converged = final.done & jnp.all(jnp.isfinite(final.trajectory))
    # As `_weak_4dvar`'s verdict: past `last` the padding adds nothing (no observations there, and the
    # free tail is the model's own run, so its model misfits are zero).
    _, observations, model = weak_residuals(final.trajectory, problem, system, q)
    statistic = jnp.sum(observations**2) + jnp.sum(model**2)
    return WeakWalk(
        path=jnp.concatenate([start[:1], firsts]),
        num_steps=final.num_steps,
        converged=converged,
        broke_down=final.stuck,
        wrong_minimum=converged & ~(statistic <= chi_square_limit(jnp.sum(problem.mask))),
    )


def fourdvarnet_path(model: FourDVarNet, problem: Problem, n_steps: int | None = None) -> Float[Array, "m 3"]:
    """FourDVarNet's first state at its start and after each of its K steps: `(K + 1, 3)`.

    On the problem as given (not padded): the network sees the window's end, so its answer
    depends on the length, and each length compiles once, as `fourdvarnet_window` does.
    """
    n_steps = model.n_solver_steps if n_steps is None else n_steps
    check_range("n_steps", n_steps, 0, 20, integer=True)
    return _fourdvarnet_path(model, problem, jnp.asarray(n_steps, jnp.int32))[: n_steps + 1]


@eqx.filter_jit
def _fourdvarnet_path(model, problem, n_steps):
    return model.first_states(problem, n_steps)
