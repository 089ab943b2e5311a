"""The learned solvers as methods: our FourDVarNet and the reference notebook's FourDVarNet1D."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Int

from core._validate import check_range
from core.da.method import AbstractMethod, Analysis, direct_analysis
from core.da.registry import MethodContext, register_method
from core.nets.fourdvarnet import FourDVarNet
from core.nets.fourdvarnet_reference import Batch1D, FourDVarNet1D
from core.setups.problems import Problem

MAX_SOLVER_STEPS = 100  # the most learned steps K anyone may ask for at inference


class FourDVarNetMethod(AbstractMethod):
    """Our dynamics-informed FourDVarNet: K learned descent steps on its variational cost.

    Arguments:
        model: a trained `FourDVarNet`.
        n_steps: K at inference (traced: a new K reuses the compiled code); None for the trained K.
    """

    model: FourDVarNet
    n_steps: Int[Array, ""]

    def __init__(self, model: FourDVarNet, n_steps: int | None = None):
        n_steps = model.n_solver_steps if n_steps is None else n_steps
        check_range("n_steps", n_steps, 0, MAX_SOLVER_STEPS, integer=True)
        self.model = model
        self.n_steps = jnp.asarray(n_steps, dtype=jnp.int32)

    def analyse(self, problem: Problem) -> Analysis:
        window = self.model.analyse(problem, self.n_steps)
        analysis = direct_analysis(window)
        return Analysis(
            window=window,
            num_steps=self.n_steps,
            status=analysis.status,
            cost=self.model.cost(window, problem),
            std=analysis.std,
        )


class ReferenceFourDVarNetMethod(AbstractMethod):
    """The reference notebook's FourDVarNet1D, as it was (it reads the observations and mask only)."""

    model: FourDVarNet1D

    def analyse(self, problem: Problem) -> Analysis:
        batch = Batch1D(input=problem.obs[None], mask=problem.mask[None], target=problem.truth_window[None])
        return direct_analysis(self.model(batch)[0])


def learned_method(model, n_steps: int | None = None) -> AbstractMethod:
    """The method of a trained model, whichever of the two architectures it is."""
    if isinstance(model, FourDVarNet1D):
        return ReferenceFourDVarNetMethod(model)
    return FourDVarNetMethod(model, n_steps)


def _ours(context: MethodContext):
    return None if context.model is None else learned_method(context.model, context.n_steps)


def _reference(context: MethodContext):
    return None if context.reference_model is None else ReferenceFourDVarNetMethod(context.reference_model)


register_method(
    "fourdvarnet_reference",
    _reference,
    label="FourDVarNet, reference architecture",
    colour="#c47fd5",
    family="learned",
    learned=True,
)
register_method("fourdvarnet", _ours, label="FourDVarNet, ours", colour="#7b3fa0", family="learned", learned=True)
