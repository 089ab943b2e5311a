"""One interface for every window method, and one way to run it.

A method is a final `eqx.Module` under `AbstractMethod` (as optimistix's solvers are, and as
DAPPER's `da_method`s are: its parameters are its fields). It has one job, `analyse(problem)`, which
returns an `Analysis` of the window. `run(method, problem)` adds the forecast: the window's last
state carried to the end of the run by the model. `run` is jitted once, here, at module level, so
every caller (the CLI, the sweep, the benchmarks, every dashboard session) shares its compile cache.

Method fields are either arrays (traced: a new value reuses the compiled code, e.g. FourDVarNet's
K) or `eqx.field(static=True)` (each new value compiles once, e.g. a 4DVar solver's iteration cap).

A new method is one class plus one `register_method(...)` call (`core/da/registry.py`); it then shows up
in `reproduce`, `sweep` and the dashboard's method list, which all read `registered_methods()`.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from core.da.scoring import assemble_full_trajectory
from core.setups.problems import Problem

# Status codes of an `Analysis`, our own (independent of optimistix's internal numbering).
STATUS_DIRECT = -1  # a closed-form or one-pass method: nothing iterated, nothing to converge
STATUS_CONVERGED = 0
STATUS_MAX_STEPS = 1
STATUS_FAILED = 2
STATUS_WRONG_MINIMUM = 3

STATUS_WORDS = {
    STATUS_DIRECT: "direct (no iterations)",
    STATUS_CONVERGED: "converged",
    STATUS_MAX_STEPS: "hit the iteration cap",
    STATUS_FAILED: "failed (diverged or not finite)",
    STATUS_WRONG_MINIMUM: "stopped at a cost far above what the noise explains: probably a local minimum",
}


def describe_status(status: int) -> str:
    """A few human words for a status code of `Analysis`."""
    return STATUS_WORDS.get(int(status), STATUS_WORDS[STATUS_FAILED])


class Analysis(eqx.Module):
    """What a method says about the window (fields gain a leading batch axis under vmap).

    Fields:
        window: the analysed states over the window, `(T_assim + 1, 3)`.
        num_steps: iterations taken (0 for a direct method).
        status: one of the `STATUS_*` codes above.
        cost: the final value of the method's cost function (NaN where it has none).
        std: the posterior standard deviation of each state (NaN where the method gives none).
    """

    window: Float[Array, "... T_assim_plus_1 3"]
    num_steps: Int[Array, "..."]
    status: Int[Array, "..."]
    cost: Float[Array, "..."]
    std: Float[Array, "... T_assim_plus_1 3"]

    @property
    def converged(self):
        """True where an iterative method converged to an acceptable minimum."""
        return self.status == STATUS_CONVERGED

    @property
    def iterative(self):
        return self.status != STATUS_DIRECT


def direct_analysis(window: Float[Array, "T 3"]) -> Analysis:
    """The `Analysis` of a method that computes its window in one pass (no cost, no uncertainty)."""
    return Analysis(
        window=window,
        num_steps=jnp.asarray(0, jnp.int32),
        status=jnp.asarray(STATUS_DIRECT, jnp.int32),
        cost=jnp.asarray(jnp.nan, window.dtype),
        std=jnp.full_like(window, jnp.nan),
    )


class AbstractMethod(eqx.Module):
    """A data-assimilation method over one window: `analyse(problem) -> Analysis`.

    The problem carries the observations, their mask and noise, and the background (its mean and
    standard deviation): a cycle hands each window the previous analysis as its background.
    """

    @abc.abstractmethod
    def analyse(self, problem: Problem) -> Analysis:
        """Analyse one problem's window (vmap over problems for a batch)."""


def _run(method: AbstractMethod, problem: Problem) -> tuple[Float[Array, "T_total_plus_1 3"], Analysis]:
    analysis = method.analyse(problem)
    return assemble_full_trajectory(analysis.window, problem), analysis


@jax.jit
def run(method: AbstractMethod, problem: Problem) -> tuple[Float[Array, "T_total_plus_1 3"], Analysis]:
    """The method's analysed window followed by the free forecast from its last state, and its
    `Analysis`. Jitted: the first call with a new kind of method (or a new static field) compiles."""
    return _run(method, problem)


@jax.jit
def run_batch(method: AbstractMethod, problems: Problem) -> tuple[Float[Array, "B T_total_plus_1 3"], Analysis]:
    """`run` over a batch of problems (one leading axis, as `generate_problems` makes), vmapped."""
    return jax.vmap(_run, in_axes=(None, 0))(method, problems)


@jax.jit
def analyse(method: AbstractMethod, problem: Problem) -> Analysis:
    """The analysis alone (no forecast), jitted: what the benchmarks time as 'analysis'."""
    return method.analyse(problem)


@jax.jit
def analyse_batch(method: AbstractMethod, problems: Problem) -> Analysis:
    """`analyse` over a batch of problems, vmapped."""
    return jax.vmap(lambda problem: method.analyse(problem))(problems)
