"""The cheap references for a class: the free run from the background, and optimal interpolation."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from core.da.method import AbstractMethod, Analysis, direct_analysis
from core.da.registry import register_method
from core.setups.problems import Problem


class FreeRun(AbstractMethod):
    """Ignore every observation: the window is the model run from the background mean."""

    def analyse(self, problem: Problem) -> Analysis:
        return direct_analysis(problem.forward.rollout(problem.background_mean, problem.T_assim))


class OptimalInterpolation(AbstractMethod):
    """Per time and component, with a static background: xb + B / (B + R) (y - xb) where observed.

    With no dynamics it falls back to the background between observation times, which is why the
    reference notebook's OI scores so badly over the window (15.1 on the seed preset).
    """

    def analyse(self, problem: Problem) -> Analysis:
        return direct_analysis(optimal_interpolation(problem))


def optimal_interpolation(problem: Problem) -> Float[Array, "T_assim_plus_1 3"]:
    """The OI window of `OptimalInterpolation`, as a function."""
    b_var = problem.background_std**2
    gain = b_var / (b_var + problem.obs_noise**2)
    xb = jnp.broadcast_to(problem.background_mean, problem.obs.shape)
    return xb + problem.mask * gain * (problem.obs - xb)


register_method(
    "free_run", lambda context: FreeRun(), label="free run from the background", colour="#8c8c8c", family="baseline"
)
register_method(
    "oi", lambda context: OptimalInterpolation(), label="optimal interpolation", colour="#e08a1e", family="baseline"
)
