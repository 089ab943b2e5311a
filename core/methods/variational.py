"""Strong-constraint 4DVar as a method: the solve of `fourdvar.strong_4dvar`, its window and verdict."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from core._validate import check_choice, check_range
from core.da.method import AbstractMethod, Analysis
from core.da.registry import register_method
from core.methods.fourdvar import DEFAULT_MAX_STEPS, SOLVERS, _strong_4dvar
from core.setups.problems import Problem


class Strong4DVar(AbstractMethod):
    """Strong-constraint 4DVar over the initial state, solved from the background mean.

    Arguments:
        solver: one of `core.SOLVERS` ("gauss-newton", the fast default; "bfgs", the reference's...).
        max_steps: the iteration cap (static: each new cap compiles once); None for the solver's default.
    """

    solver: str = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(self, solver: str = "gauss-newton", max_steps: int | None = None):
        check_choice("solver", solver, SOLVERS)
        max_steps = DEFAULT_MAX_STEPS[solver] if max_steps is None else max_steps
        check_range("max_steps", max_steps, 1, 100_000, integer=True)
        self.solver = solver
        self.max_steps = int(max_steps)

    def analyse(self, problem: Problem) -> Analysis:
        solve = _strong_4dvar(problem, self.solver, self.max_steps)
        window = problem.forward.rollout(solve.x0, problem.T_assim)
        return Analysis(
            window=window,
            num_steps=solve.num_steps,
            status=solve.status,
            cost=solve.cost,
            std=jnp.full_like(window, jnp.nan),
        )


def _builder(solver: str):
    return lambda context: Strong4DVar(solver, context.max_steps)


register_method(
    "strong_4dvar",
    _builder("gauss-newton"),
    label="strong 4DVar (Gauss-Newton)",
    colour="#1f5fbf",
    family="variational",
)
register_method(
    "strong_4dvar_bfgs", _builder("bfgs"), label="strong 4DVar (BFGS)", colour="#5fa8e8", family="variational"
)
register_method(
    "strong_4dvar_qs",
    _builder("quasi-static"),
    label="strong 4DVar (quasi-static)",
    colour="#1a9e8f",
    family="variational",
)
