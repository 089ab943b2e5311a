"""Training the cycled FourDVarNet (core/nets/cycle_fourdvarnet.py): windows drawn as a cycle's, the
training schemes `fit` drives ("cycled", "own_cycles"), and `python -m core.nets.cycle_training`.

Model error (`scheme_options` `model_rho`, `model_noise`): the training truths run the true system
(rho 28, plus additive noise of variance `model_noise` per unit time), while each window's cost and
first guess use the methods' model (rho `model_rho`): the net learns to correct the wrong model.
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
from core.nets.cycle_fourdvarnet import (
    CYCLED_MODEL_PATH,
    MODEL_ERROR_OPTIONS,
    OWN_CYCLES_OPTIONS,
    TRAINING_SPREAD_RANGE,
    WINDOW_STEPS,
    CycledFourDVarNet,
    model_error_systems,
    noisy_rollout,
    window_problem,
)
from core.nets.fourdvarnet import FourDVarNet, normalised_mse
from core.nets.model_files import load_model, save_model
from core.nets.training import fit, optimizer_for
from core.nets.training_config import SCHEMES, TrainingConfig
from core.setups.problems import ATTRACTOR_SPIN_UP_STEPS, CLIMATOLOGY_MEAN, CLIMATOLOGY_STD, Problem
from core.setups.sakov2012 import MODEL_NOISE_RANGE, MODEL_RHO_RANGE
from core.systems.lorenz import RHO, AbstractSystem, Lorenz63Forward

# ---------------------------------------------------------------------------------------------
# Training on windows drawn as a cycle's.


def cycled_training_batch(
    key: PRNGKeyArray,
    batch_size: int,
    window_steps: int,
    obs_noise: float,
    spread_range=TRAINING_SPREAD_RANGE,
    truth_model: AbstractSystem | None = None,
    model: AbstractSystem | None = None,
    model_noise: float = 0.0,
):
    """`(problems, first_guesses, truths)`: windows whose background is a cycled analysis, not the climatology.

    Truth from the climatology spun up onto the attractor by `truth_model` (None: Lorenz-63 at dt 0.01),
    with its model noise; background std s log-uniform in `spread_range` per component and problem;
    x_b = truth_0 + s * N(0, 1); x, y, z observed at the last state only. The problems' cost and the
    first guesses use `model`, the methods' model (None: the truth's).
    """
    forward = Lorenz63Forward(dt=0.01) if truth_model is None else truth_model
    model = forward if model is None else model
    mean, std = jnp.array(CLIMATOLOGY_MEAN), jnp.array(CLIMATOLOGY_STD)

    def one(k):
        k_truth, k_spread, k_background, k_obs = jax.random.split(k, 4)
        start = forward.advance(mean + std * jax.random.normal(k_truth, (3,)), ATTRACTOR_SPIN_UP_STEPS)
        truth = noisy_rollout(forward, start, window_steps, model_noise, jax.random.fold_in(k, 1))
        low, high = math.log(spread_range[0]), math.log(spread_range[1])
        spread = jnp.exp(jax.random.uniform(k_spread, (3,), minval=low, maxval=high))
        background = truth[0] + spread * jax.random.normal(k_background, (3,))
        y = truth[-1] + obs_noise * jax.random.normal(k_obs, (3,))
        problem = window_problem(background, spread, y, jnp.ones(3), obs_noise, window_steps, model=model)
        return problem, model.rollout(background, window_steps), truth

    return jax.vmap(one)(jax.random.split(key, batch_size))


@eqx.filter_jit
def _training_step(model, opt_state, key, optimizer, batch_size, window_steps, obs_noise, systems):
    truth_model, methods_model, model_noise = systems
    problems, first_guesses, truths = cycled_training_batch(
        key, batch_size, window_steps, obs_noise, truth_model=truth_model, model=methods_model, model_noise=model_noise
    )
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
    `obs_noise` (the cycle's window and noise: `cycled_config` makes such a config); `scheme_options`
    `model_rho` and `model_noise` set the model error (`MODEL_ERROR_OPTIONS`)."""
    optimizer = optimizer_for(config.learning_rate, config.steps)
    window_steps, obs_noise = config.T_assim[0], config.obs_noise[0]
    systems = model_error_systems(config.scheme_options)

    def step(model, opt_state, key, _index):
        return _training_step(model, opt_state, key, optimizer, config.batch_size, window_steps, obs_noise, systems)

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


def cycled_windows(
    model: FourDVarNet, key: PRNGKeyArray, n_truths: int, n_cycles: int, burn_in: int = 20, model_rho: float = RHO
):
    """Windows as the cycle itself makes them: run `model` through `n_truths` sakov2012 cycles (vmapped,
    the methods' model's rho `model_rho`) and keep, for every cycle after `burn_in`, the carried
    background, the observation and the true start.

    Returns:
        `(background_mean, background_std, obs, truth_start)`, each `(n_truths * (n_cycles - burn_in - 1), 3)`.
    """
    from core.da.cycle import run_cycle, simulate
    from core.setups.sakov2012 import sakov2012

    setup = sakov2012(n_cycles=n_cycles, model_rho=model_rho)
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
def _cycled_windows_step(model, opt_state, key, optimizer, data, batch_size, window_steps, obs_noise, systems):
    """One Adam step on `batch_size` windows drawn from `cycled_windows` data (`systems`: the truth's
    system and the methods' model)."""
    forward, methods_model = systems
    index = jax.random.randint(key, (batch_size,), 0, data[0].shape[0])
    mean, spread, obs, start = (d[index] for d in data)

    def one(m, s, y, x):
        problem = window_problem(m, s, y, jnp.ones(3), obs_noise, window_steps, model=methods_model)
        return problem, methods_model.rollout(m, window_steps), forward.rollout(x, window_steps)

    problems, first_guesses, truths = jax.vmap(one)(mean, spread, obs, start)
    return _window_step(model, opt_state, optimizer, problems, first_guesses, truths)


def own_cycles_scheme(config: TrainingConfig):
    """The "own_cycles" scheme (fine-tuning, `fit(config, model=trained)`): `rounds` times over the
    `steps`, run the cycle with the model as it is then (`cycled_windows`, `n_truths` x `n_cycles`) and
    train on `batch_size` of those windows per step until the next round (`OWN_CYCLES_OPTIONS`; its
    `model_rho` as the "cycled" scheme's; a truth with model noise is not replayed here: refused)."""
    options = {**OWN_CYCLES_OPTIONS, **MODEL_ERROR_OPTIONS, **config.scheme_options}
    check_range("model_noise (own_cycles replays noiseless truths)", options["model_noise"], 0.0, 0.0)
    truth_model, methods_model, _ = model_error_systems(options)
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
            windows["data"] = cycled_windows(
                model, data_key, options["n_truths"], options["n_cycles"], model_rho=options["model_rho"]
            )
        return _cycled_windows_step(
            model,
            opt_state,
            key,
            optimizer,
            windows["data"],
            config.batch_size,
            window_steps,
            obs_noise,
            (truth_model, methods_model),
        )

    return optimizer, step


CYCLED_SCHEMES = {"cycled": cycled_scheme, "own_cycles": own_cycles_scheme}
assert tuple(CYCLED_SCHEMES) == SCHEMES  # the names a config checks against


def _progress_printer(steps: int, every: int = 200):
    """A `fit` callback printing the mean loss of the last `every` steps, every `every` steps."""
    losses = []

    def callback(step, loss):
        losses.append(loss)
        if step % every == 1 or step == steps:
            print(f"step {step}/{steps} loss {np.mean(losses[-every:]):.5f}", flush=True)

    return callback


def main(argv=None) -> int:
    """`python -m core.nets.cycle_training --out PATH [--steps N] [--batch-size B]`: train and save."""
    parser = argparse.ArgumentParser(prog="python -m core.nets.cycle_training", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=CYCLED_MODEL_PATH, help="model file (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=4000, help="Adam steps, 1..1000000 (default: 4000)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step, 1..100000 (default: 64)")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--init", type=Path, default=None, help="fine-tune this model on its own cycled backgrounds instead"
    )
    parser.add_argument(
        "--start-from",
        type=Path,
        default=None,
        help="start from this model's weights and train on the same windows as from scratch (e.g. the shipped "
        "model, under a --model-rho mismatch)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="cycle runs that renew the fine-tuning data (default: 2)")
    parser.add_argument(
        "--model-rho",
        type=float,
        default=RHO,
        help="rho of the methods' model in the windows' cost, {:g} .. {:g}; the truths keep 28 (default: 28, "
        "no model error)".format(*MODEL_RHO_RANGE),
    )
    parser.add_argument(
        "--model-noise",
        type=float,
        default=0.0,
        help="the truths' additive model noise, a variance per unit time, {:g} .. {:g} (default: 0)".format(
            *MODEL_NOISE_RANGE
        ),
    )
    args = parser.parse_args(argv)
    try:
        check_range("--steps", args.steps, 1, 1_000_000, integer=True)
        check_range("--batch-size", args.batch_size, 1, 100_000, integer=True)
        check_range("--learning-rate", args.learning_rate, 1e-7, 1.0)
        check_range("--rounds", args.rounds, 1, args.steps, integer=True)
        check_range("--model-rho", args.model_rho, *MODEL_RHO_RANGE)
        check_range("--model-noise", args.model_noise, *MODEL_NOISE_RANGE)
        if args.init is not None and args.start_from is not None:
            raise ValueError("--init and --start-from both name a starting model: give one")
        if args.init is not None and args.model_noise > 0:
            raise ValueError("--model-noise trains from scratch only (--init replays noiseless truths)")
        if args.out.exists() and not args.force:
            raise ValueError(f"--out {args.out} exists; pass --force to replace it")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed)
    model_error = {"model_rho": args.model_rho, "model_noise": args.model_noise}
    model_error = {} if model_error == MODEL_ERROR_OPTIONS else model_error  # no model error: as before
    stage = "windows with a cycled-like background (truth + log-uniform spread noise)"
    if model_error:
        stage += f"; truths of rho {RHO:g} (model noise {args.model_noise:g}), the cost's model rho {args.model_rho:g}"
    if args.init is None and args.start_from is None:
        config = cycled_config(**settings, scheme_options=model_error)
        model, report = fit(config, callback=_progress_printer(args.steps))
        seconds = report.train_time_s
    elif args.start_from is not None:
        model, header = load_model(args.start_from, architecture="fourdvarnet")
        hyperparameters = TrainingConfig.from_json(header["config"]).hyperparameters
        config = cycled_config(**settings, scheme_options=model_error, hyperparameters=hyperparameters)
        model, report = fit(config, model=model, callback=_progress_printer(args.steps))
        seconds = report.train_time_s + header.get("info", {}).get("train_time_s", 0.0)
        stage = (
            f"{args.start_from.name} ({header.get('info', {}).get('training', '')}), then {args.steps} steps on "
            + stage
        )
    else:
        model, header = load_model(args.init, architecture="fourdvarnet")
        hyperparameters = TrainingConfig.from_json(header["config"]).hyperparameters
        scheme_options = {"rounds": args.rounds, **model_error}
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
        "truth_rho": RHO,
        "model_rho": args.model_rho,
        "model_noise": args.model_noise,
    }
    save_model(args.out, model, config, info=info, overwrite=args.force)
    print(f"saved {args.out} (loss {info['final_loss']:.5f}, {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
