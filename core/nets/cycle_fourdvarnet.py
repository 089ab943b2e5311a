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
`scheme`; "own_cycles" fine-tunes on the model's own cycles). `python -m core.nets.cycle_fourdvarnet --out PATH`
trains one.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from core._validate import check_range
from core.da.cycle import AbstractCycledMethod, CycleSetup
from core.da.registry import register_method
from core.nets.fourdvarnet import FourDVarNet, normalised_mse
from core.nets.model_files import SHIPPED_MODELS, load_model, save_model
from core.nets.training import TrainingConfig, fit, optimizer_for
from core.setups.problems import ATTRACTOR_SPIN_UP_STEPS, CLIMATOLOGY_MEAN, CLIMATOLOGY_STD, Problem
from core.systems.lorenz import Lorenz63Forward

CYCLED_MODEL_PATH = SHIPPED_MODELS / "cycled" / "fourdvarnet_cycled.eqx"
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
) -> Problem:
    """The window of one cycle as a FourDVarNet problem: the observation `y` at its last state only.

    The truth is unknown in a cycle: `truth` is zeros (the solver never reads it).
    """
    last = jnp.zeros((window_steps + 1, 1)).at[-1].set(1.0)
    mask = last * observed[None, :]
    return Problem(
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
            background_mean, background_std, y, setup.observed, setup.obs_noise, self.window_steps, setup.dt
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


# ---------------------------------------------------------------------------------------------
# Training on windows drawn as a cycle's.


def cycled_training_batch(
    key: PRNGKeyArray, batch_size: int, window_steps: int, obs_noise: float, spread_range=TRAINING_SPREAD_RANGE
):
    """`(problems, first_guesses, truths)`: windows whose background is a cycled analysis, not the climatology.

    Truth from the climatology spun up onto the attractor; background std s log-uniform in `spread_range`
    per component and problem; x_b = truth_0 + s * N(0, 1); x, y, z observed at the last state only.
    """
    forward = Lorenz63Forward(dt=0.01)
    mean, std = jnp.array(CLIMATOLOGY_MEAN), jnp.array(CLIMATOLOGY_STD)

    def one(k):
        k_truth, k_spread, k_background, k_obs = jax.random.split(k, 4)
        start = forward.advance(mean + std * jax.random.normal(k_truth, (3,)), ATTRACTOR_SPIN_UP_STEPS)
        truth = forward.rollout(start, window_steps)
        low, high = math.log(spread_range[0]), math.log(spread_range[1])
        spread = jnp.exp(jax.random.uniform(k_spread, (3,), minval=low, maxval=high))
        background = truth[0] + spread * jax.random.normal(k_background, (3,))
        y = truth[-1] + obs_noise * jax.random.normal(k_obs, (3,))
        problem = window_problem(background, spread, y, jnp.ones(3), obs_noise, window_steps)
        return problem, forward.rollout(background, window_steps), truth

    return jax.vmap(one)(jax.random.split(key, batch_size))


@eqx.filter_jit
def _training_step(model, opt_state, key, optimizer, batch_size, window_steps, obs_noise):
    problems, first_guesses, truths = cycled_training_batch(key, batch_size, window_steps, obs_noise)
    return _window_step(model, opt_state, optimizer, problems, first_guesses, truths)


def cycled_window_loss(model: FourDVarNet, problems: Problem, first_guesses, truths) -> Float[Array, ""]:
    """The cycled schemes' loss on windows started from `first_guesses`: the whole window's error, and
    the analysis (its end) once more, since that is what the cycle carries."""
    windows = jax.vmap(lambda p, g: model.analyse(p, first_guess=g))(problems, first_guesses)
    return normalised_mse(windows, truths) + normalised_mse(windows[:, -1], truths[:, -1])


def _window_step(model, opt_state, optimizer, problems, first_guesses, truths):
    """One Adam step of `cycled_window_loss`."""
    loss, grads = eqx.filter_value_and_grad(cycled_window_loss)(model, problems, first_guesses, truths)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


def cycled_scheme(config: TrainingConfig):
    """The "cycled" training scheme (`TrainingConfig(scheme="cycled")`, run by `fit`): each step a fresh
    `cycled_training_batch` of `batch_size` windows of `T_assim` steps, observed at the end with noise
    `obs_noise` (the cycle's window and noise: `cycled_config` makes such a config)."""
    optimizer = optimizer_for(config.learning_rate, config.steps)
    window_steps, obs_noise = config.T_assim[0], config.obs_noise[0]

    def step(model, opt_state, key, _index):
        return _training_step(model, opt_state, key, optimizer, config.batch_size, window_steps, obs_noise)

    return optimizer, step


def cycled_config(
    steps: int, batch_size: int = 64, learning_rate: float = 3e-3, seed: int = 0, scheme: str = "cycled", **changes
) -> TrainingConfig:
    """The config of a FourDVarNet trained for the cycle by `scheme`: sakov2012's window (25 steps) and
    noise (sqrt 2); `changes` are more `TrainingConfig` fields."""
    return TrainingConfig(
        obs_every=(WINDOW_STEPS,),
        obs_noise=(math.sqrt(2.0),),
        T_assim=(WINDOW_STEPS,),
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        scheme=scheme,
        **changes,
    )


def cycled_windows(model: FourDVarNet, key: PRNGKeyArray, n_truths: int, n_cycles: int, burn_in: int = 20):
    """Windows as the cycle itself makes them: run `model` through `n_truths` sakov2012 cycles (vmapped)
    and keep, for every cycle after `burn_in`, the carried background, the observation and the true start.

    Returns:
        `(background_mean, background_std, obs, truth_start)`, each `(n_truths * (n_cycles - burn_in - 1), 3)`.
    """
    from core.da.cycle import run_cycle, simulate
    from core.setups.sakov2012 import sakov2012

    setup = sakov2012(n_cycles=n_cycles)
    method = CycledFourDVarNet(model)

    def one(k):
        k_truth, k_method = jax.random.split(k)
        truth = simulate(setup, k_truth)
        record = run_cycle(method, setup, truth, k_method)
        sl = slice(burn_in, -1)
        return record.analysis_mean[sl], record.analysis_spread[sl], truth.obs[burn_in + 1 :], truth.truth[sl]

    parts = jax.lax.map(one, jax.random.split(key, n_truths))
    return tuple(p.reshape(-1, 3) for p in parts)


@eqx.filter_jit
def _cycled_windows_step(model, opt_state, key, optimizer, data, batch_size, window_steps, obs_noise):
    """One Adam step on `batch_size` windows drawn from `cycled_windows` data."""
    forward = Lorenz63Forward(dt=0.01)
    index = jax.random.randint(key, (batch_size,), 0, data[0].shape[0])
    mean, spread, obs, start = (d[index] for d in data)

    def one(m, s, y, x):
        problem = window_problem(m, s, y, jnp.ones(3), obs_noise, window_steps)
        return problem, forward.rollout(m, window_steps), forward.rollout(x, window_steps)

    problems, first_guesses, truths = jax.vmap(one)(mean, spread, obs, start)
    return _window_step(model, opt_state, optimizer, problems, first_guesses, truths)


def own_cycles_scheme(config: TrainingConfig):
    """The "own_cycles" scheme (fine-tuning, `fit(config, model=trained)`): `rounds` times over the
    `steps`, run the cycle with the model as it is then (`cycled_windows`, `n_truths` x `n_cycles`) and
    train on `batch_size` of those windows per step until the next round (`OWN_CYCLES_OPTIONS`)."""
    options = {**OWN_CYCLES_OPTIONS, **config.scheme_options}
    check_range("rounds", options["rounds"], 1, max(config.steps, 1), integer=True)
    # The windows come from sakov2012's cycle: its observation spacing is the window.
    check_range("T_assim", config.T_assim[0], WINDOW_STEPS, WINDOW_STEPS, integer=True)
    optimizer = optimizer_for(config.learning_rate, config.steps)
    steps_per_round = -(-config.steps // options["rounds"])
    window_steps, obs_noise = config.T_assim[0], config.obs_noise[0]
    windows = {}

    def step(model, opt_state, key, index):
        if index % steps_per_round == 0:  # a new round: the windows of the model's own cycles, as it is now
            data_key, key = jax.random.split(key)
            windows["data"] = cycled_windows(model, data_key, options["n_truths"], options["n_cycles"])
        return _cycled_windows_step(
            model, opt_state, key, optimizer, windows["data"], config.batch_size, window_steps, obs_noise
        )

    return optimizer, step


CYCLED_SCHEMES = {"cycled": cycled_scheme, "own_cycles": own_cycles_scheme}


def _progress_printer(steps: int, every: int = 200):
    """A `fit` callback printing the mean loss of the last `every` steps, every `every` steps."""
    losses = []

    def callback(step, loss):
        losses.append(loss)
        if step % every == 1 or step == steps:
            print(f"step {step}/{steps} loss {np.mean(losses[-every:]):.5f}", flush=True)

    return callback


def main(argv=None) -> int:
    """`python -m core.nets.cycle_fourdvarnet --out PATH [--steps N] [--batch-size B]`: train and save."""
    parser = argparse.ArgumentParser(prog="python -m core.nets.cycle_fourdvarnet", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=CYCLED_MODEL_PATH, help="model file (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=4000, help="Adam steps, 1..1000000 (default: 4000)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step, 1..100000 (default: 64)")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--init", type=Path, default=None, help="fine-tune this model on its own cycled backgrounds instead"
    )
    parser.add_argument("--rounds", type=int, default=2, help="cycle runs that renew the fine-tuning data (default: 2)")
    args = parser.parse_args(argv)
    try:
        check_range("--steps", args.steps, 1, 1_000_000, integer=True)
        check_range("--batch-size", args.batch_size, 1, 100_000, integer=True)
        check_range("--learning-rate", args.learning_rate, 1e-7, 1.0)
        check_range("--rounds", args.rounds, 1, args.steps, integer=True)
        if args.out.exists() and not args.force:
            raise ValueError(f"--out {args.out} exists; pass --force to replace it")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed)
    if args.init is None:
        config = cycled_config(**settings)
        model, report = fit(config, callback=_progress_printer(args.steps))
        seconds = report.train_time_s
        stage = "windows with a cycled-like background (truth + log-uniform spread noise)"
    else:
        model, header = load_model(args.init, architecture="fourdvarnet")
        hyperparameters = TrainingConfig.from_json(header["config"]).hyperparameters
        scheme_options = {"rounds": args.rounds}
        config = cycled_config(
            **settings, scheme="own_cycles", scheme_options=scheme_options, hyperparameters=hyperparameters
        )
        model, report = fit(config, model=model, callback=_progress_printer(args.steps))
        seconds = report.train_time_s + header.get("info", {}).get("train_time_s", 0.0)
        stage = f"{header.get('info', {}).get('training', '')}; then fine-tuned {args.steps} steps on its own cycles"
    losses = report.losses
    info = {
        "training": stage,
        "background": "cycled",
        "background_std_range": list(TRAINING_SPREAD_RANGE),
        "observed_at": "window end only",
        "first_guess": "forecast of the background",
        "final_loss": float(np.mean(losses[-100:])),
        "train_time_s": seconds,
    }
    save_model(args.out, model, config, info=info, overwrite=args.force)
    print(f"saved {args.out} (loss {info['final_loss']:.5f}, {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
