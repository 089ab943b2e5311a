"""The FourDVarNet in the cycle: each analysis is one learned window from the last analysis to the newest observation.

Cycle k builds the window [t_{k-1}, t_k] (`window_steps` model steps, one observation cycle). Its
background term is the carried analysis x_b = x_a(t_{k-1}) with the carried spread s as its std,

    J(x) = 1/2 |H (x_T - y_k) / sigma_o|^2 + 1/2 |(x_0 - x_b) / s|^2 + 1/2 sum_t |(x_{t+1} - M(x_t)) / sigma_q|^2,

the learned solver starts from the forecast (x_b carried through the window), and `window[-1]` is the
analysis x_a(t_k) carried to the next cycle. The newest observation is the only one in the window: the
older ones are already in x_b. The carried spread is the Gauss-Newton posterior of that cost under the
strong constraint at the analysed x_0, P_0 = (S^-2 + M'^T H^T R^-1 H M')^-1, carried to t_k by the
tangent-linear model M' and scaled by `spread_inflation` (as `core/methods/uncertainty.py` does for one window).

The model is trained on single windows drawn as a cycle's (`cycled_training_batch`): truth on the
attractor, x_b = truth_0 + s * noise with s drawn per component over the spreads a cycled analysis has,
the observation at the window's end only: `fit` runs it as the training scheme "cycled" (a config's
`scheme`; "own_cycles" fine-tunes on the model's own cycles; core/nets/cycle_training.py).
`python -m core.nets.cycle_training --out PATH` trains one.

Model error: the window's cost and the first guess use the methods' model (`setup.model`, e.g. rho 26),
so a net trained on truths of the true system (rho 28) against that cost (`--model-rho 26` in training)
learns the correction; `MISMATCH_MODEL_PATH` is such a net.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from core._validate import check_range
from core.da.cycle import AbstractCycledMethod, CycleSetup
from core.da.registry import register_method
from core.nets.fourdvarnet import FourDVarNet
from core.nets.model_files import SHIPPED_MODELS, load_model
from core.setups.problems import Problem
from core.setups.sakov2012 import MODEL_NOISE_RANGE, MODEL_RHO_RANGE
from core.systems.lorenz import RHO, AbstractSystem, Lorenz63Forward

CYCLED_MODEL_PATH = SHIPPED_MODELS / "cycled" / "fourdvarnet_cycled.eqx"
# Trained on truths of rho 28 against a cost whose model has rho 26 (make_models.sh says how).
MISMATCH_MODEL_PATH = SHIPPED_MODELS / "cycled" / "fourdvarnet_cycled_truth_rho28_model_rho26.eqx"
WINDOW_STEPS = 25  # sakov2012's observation spacing: the window is one observation cycle
# Per-component background std drawn log-uniformly in training: the spreads a cycled analysis carries.
TRAINING_SPREAD_RANGE = (0.1, 1.5)
# The carried spread is kept inside this range so that a wild cycle cannot make the cost singular.
SPREAD_CLIP = (0.02, 10.0)
# The "own_cycles" scheme's settings (`TrainingConfig.scheme_options` overrides them): how many times the
# cycle is run to renew the windows, on how many truths, for how many cycles.
OWN_CYCLES_OPTIONS = {"rounds": 2, "n_truths": 32, "n_cycles": 400}


def window_problem(
    background_mean: Float[Array, "3"],
    background_std: Float[Array, "3"],
    y: Float[Array, "3"],
    observed: Float[Array, "3"],
    obs_noise,
    window_steps: int,
    dt: float = 0.01,
    model: AbstractSystem | None = None,
) -> Problem:
    """The window of one cycle as a FourDVarNet problem: the observation `y` at its last state only.

    The truth is unknown in a cycle: `truth` is zeros (the solver never reads it). `model` is the
    methods' model (None: Lorenz-63 with the classical parameters at `dt`).
    """
    last = jnp.zeros((window_steps + 1, 1)).at[-1].set(1.0)
    mask = last * observed[None, :]
    return Problem(
        model=Lorenz63Forward(dt=dt) if model is None else model,
        truth=jnp.zeros((window_steps + 1, 3)),
        obs=mask * y[None, :],
        mask=mask,
        background_mean=background_mean,
        background_std=background_std,
        obs_noise=jnp.asarray(obs_noise, jnp.float32),
        obs_every=jnp.asarray(window_steps, jnp.int32),
        dt=dt,
        T_assim=window_steps,
        T_total=window_steps,
        preset="attractor",
    )


def gauss_newton_spread(
    x0: Float[Array, "3"], background_std: Float[Array, "3"], problem: Problem
) -> tuple[Float[Array, "3"], Float[Array, "3"]]:
    """`(forecast std, analysis std)` at the window's end, from the tangent-linear model at `x0`.

    Forecast: M' diag(s^2) M'^T. Analysis: M' P_0 M'^T with P_0 = (S^-2 + M'^T H^T R^-1 H M')^-1, the
    inverse Gauss-Newton Hessian of the strong-constraint cost with only the last state observed.
    """
    tlm = jax.jacfwd(lambda x: problem.forward.advance(x, problem.T_assim))(x0)
    rinv = problem.mask[-1] / problem.obs_noise
    whitened = rinv[:, None] * tlm
    p0 = jnp.linalg.inv(jnp.diag(background_std**-2) + whitened.T @ whitened)
    forecast_cov = (tlm * background_std**2) @ tlm.T
    analysis_cov = tlm @ p0 @ tlm.T
    diag_std = lambda c: jnp.sqrt(jnp.maximum(jnp.diag(c), 0.0))
    return diag_std(forecast_cov), diag_std(analysis_cov)


class CycledFourDVarNet(AbstractCycledMethod):
    """A trained `FourDVarNet` as a cycled method; its state is the carried mean and spread.

    Fields:
        model: the trained FourDVarNet (`load_cycled_model()` gives the shipped one).
        n_steps: learned steps K per window (traced).
        spread_inflation: factor on the Gauss-Newton analysis std carried as the next background std (traced).
        window_steps: the window, which must equal the set-up's observation spacing (static: a shape).
    """

    model: FourDVarNet
    n_steps: Array
    spread_inflation: Float[Array, ""]
    window_steps: int = eqx.field(static=True)

    def __init__(self, model: FourDVarNet, n_steps: int | None = None, spread_inflation: float = 1.0, window_steps=25):
        n_steps = model.n_solver_steps if n_steps is None else n_steps
        check_range("n_steps", n_steps, 0, 100, integer=True)
        check_range("spread_inflation", spread_inflation, 0.1, 10.0)
        check_range("window_steps", window_steps, 1, 1000, integer=True)
        self.model = model
        self.n_steps = jnp.asarray(n_steps, jnp.int32)
        self.spread_inflation = jnp.asarray(spread_inflation, jnp.float32)
        self.window_steps = int(window_steps)

    def init(self, setup: CycleSetup, truth, key):
        return setup.x0_mean, jnp.full(3, setup.x0_std)

    def cycle(self, state, y, index, setup: CycleSetup, truth, key):
        background_mean, background_std = state
        problem = window_problem(
            background_mean,
            background_std,
            y,
            setup.observed,
            setup.obs_noise,
            self.window_steps,
            setup.dt,
            setup.model,
        )
        first_guess = setup.forward.rollout(background_mean, self.window_steps)
        window = self.model.analyse(problem, self.n_steps, first_guess=first_guess)
        # The forecast's tangent-linear model at x_b, the analysis's at the analysed x_0.
        forecast_std = gauss_newton_spread(background_mean, background_std, problem)[0]
        analysis_std = gauss_newton_spread(window[0], background_std, problem)[1]
        spread = jnp.clip(self.spread_inflation * analysis_std, *SPREAD_CLIP)
        # The window is a shape fixed by training: a set-up observing at another spacing is an error.
        analysis = eqx.error_if(
            window[-1], setup.obs_every != self.window_steps, "fourdvarnet needs obs_every == its window_steps"
        )
        return (analysis, spread), (first_guess[-1], forecast_std, analysis, spread)


# The set-up's model error, as `TrainingConfig.scheme_options` names it: the methods' rho and the
# truth's model noise (variance per unit time). The defaults are no model error.
MODEL_ERROR_OPTIONS = {"model_rho": RHO, "model_noise": 0.0}


def model_error_systems(options: dict, dt: float = 0.01) -> tuple[Lorenz63Forward, Lorenz63Forward, float]:
    """`(truth's system, methods' model, model noise)` from a scheme's options (missing keys: no error)."""
    options = {**MODEL_ERROR_OPTIONS, **options}
    check_range("model_rho", options["model_rho"], *MODEL_RHO_RANGE)
    check_range("model_noise", options["model_noise"], *MODEL_NOISE_RANGE)
    return (
        Lorenz63Forward(dt=dt),
        Lorenz63Forward(dt=dt, rho=float(options["model_rho"])),
        float(options["model_noise"]),
    )


def noisy_rollout(system: AbstractSystem, x0: Float[Array, " n"], n_steps: int, model_noise: float, key):
    """The truth's trajectory `(n_steps + 1, n)`: each step M(x) + sqrt(Q dt) N(0, I) (Q = `model_noise`;
    0: the plain rollout, no key used)."""
    if model_noise == 0:
        return system.rollout(x0, n_steps)
    noise_std = math.sqrt(model_noise * system.dt)

    def body(x, k):
        x = system.step(x) + noise_std * jax.random.normal(k, x.shape, x.dtype)
        return x, x

    _, states = jax.lax.scan(body, x0, jax.random.split(key, n_steps))
    return jnp.concatenate([x0[None], states])


def load_cycled_model(path=CYCLED_MODEL_PATH) -> FourDVarNet:
    """The FourDVarNet trained on cycled backgrounds (`ModelFileError` if `path` is missing or bad)."""
    return load_model(path, architecture="fourdvarnet")[0]


register_method(
    "fourdvarnet",
    lambda: CycledFourDVarNet(load_cycled_model()),  # the shipped model, read when the method is built
    label="FourDVarNet (trained at obs every 25)",
    colour="#7b3fa0",  # the window FourDVarNet's colour
    family="learned",
    learned=True,
    kind="cycled",
)
