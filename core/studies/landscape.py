"""The 4DVar cost landscape: J(x0) over a plane through the true x0, and the solvers' paths on it.

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
from core.methods.fourdvar import _solver, cost, quasi_static_iteration, quasi_static_start, residuals
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
