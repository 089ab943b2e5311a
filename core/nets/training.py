"""Training on simulated problems: the architectures and the training schemes, `fit` (the one training
loop) and `fit_many` (several of ours at once, vmapped). The configuration stored with a model is
core/nets/training_config.py's; saving and loading a trained model is core/nets/model_files.py's job."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from core.nets.fourdvarnet import FourDVarNet, normalised_mse
from core.nets.fourdvarnet_reference import Batch1D, FourDVarNet1D, train_step
from core.nets.training_config import ARCHITECTURE_NAMES, TrainingConfig
from core.setups.problems import generate_problems, observed_mask


@dataclass(frozen=True)
class Architecture:
    """A trainable model class: its default hyper-parameters, its name for people, how it trains."""

    model_class: type
    hyperparameters: dict
    label: str
    # config -> (optimizer, step(model, opt_state, key, step_index) -> (model, opt_state, loss))
    training_scheme: Callable


def _simulated_scheme(config: TrainingConfig):
    """Ours: a fresh batch of simulated problems, drawn from the config's choices, every step; the
    window lengths take turns (a length is a shape: each compiles once)."""
    optimizer = optimizer_for(config.learning_rate, config.steps)
    choices = (*_choices(config), config.batch_size)
    windows = config.T_assim

    def step(m, s, k, index):
        settings = {"preset": config.preset, "T_assim": windows[index % len(windows)], **config.problem_settings()}
        return _simulated_step(m, s, k, choices, optimizer, settings)

    return optimizer, step


def _fixed_batch_scheme(config: TrainingConfig):
    """The reference notebook's: full-batch Adam on one fixed set of `batch_size` problems."""
    optimizer = optax.adam(config.learning_rate)
    batch = training_batch_for(config)
    return optimizer, lambda m, s, _key, _index: train_step(m, batch, optimizer, s)


ARCHITECTURES = {
    "fourdvarnet": Architecture(
        FourDVarNet, dict(hidden_dim=24, kernel_size=11, n_solver_steps=5), "FourDVarNet", _simulated_scheme
    ),
    "fourdvarnet_reference": Architecture(
        FourDVarNet1D,
        dict(state_dim=3, n_time=51, latent_dim=8, hidden_dim=16, n_solver_steps=5),
        "reference FourDVarNet",
        _fixed_batch_scheme,
    ),
}
assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES  # the names a config checks against
DEFAULT_HYPERPARAMETERS = ARCHITECTURES["fourdvarnet"].hyperparameters
REFERENCE_CONFIG = TrainingConfig(
    architecture="fourdvarnet_reference",
    preset="seed",
    steps=200,
    batch_size=32,
    learning_rate=1e-2,
    seed=0,
    hyperparameters=ARCHITECTURES["fourdvarnet_reference"].hyperparameters,
)


def build_model(config: TrainingConfig, key=None):
    """An untrained model of the config's architecture and hyper-parameters."""
    key = jax.random.PRNGKey(config.seed) if key is None else key
    architecture = ARCHITECTURES[config.architecture]
    # The system's size and climatology, only where it is not Lorenz-63 (older files keep their call).
    system = {} if config.system == "lorenz63" else {"system": config.system, "n_variables": config.state_size}
    return architecture.model_class(**{**architecture.hyperparameters, **config.hyperparameters}, **system, key=key)


@dataclass
class TrainingReport:
    losses: list[float]
    train_time_s: float
    compile_s: float


ProgressCallback = Callable[[int, float], None]


@functools.lru_cache(maxsize=16)
def optimizer_for(learning_rate: float, steps: int) -> optax.GradientTransformation:
    """Our trainings' optimizer: Adam on gradients clipped to global norm 1, its rate decaying along a
    cosine to 5% over `steps`. Cached, so that repeated trainings with the same settings reuse the
    compiled step (the optimizer is a static argument of the jitted steps)."""
    schedule = optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=0.05)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


@eqx.filter_jit
def _simulated_step(model, opt_state, key, choices, optimizer, settings):
    """One Adam step of our FourDVarNet on a fresh batch drawn from the config's choices."""
    return _simulated_step_body(model, opt_state, key, choices, optimizer, settings)


@eqx.filter_jit
def _simulated_steps(models, opt_states, keys, choices, optimizer, settings):
    """`_simulated_step` of several models at once, vmapped over the models and their choices."""
    every, noise, masks, batch_size = choices
    step = lambda m, s, k, e, n, o: _simulated_step_body(m, s, k, (e, n, o, batch_size), optimizer, settings)
    return eqx.filter_vmap(step)(models, opt_states, keys, every, noise, masks)


def draw_mismatch(settings: dict, key, batch_size: int) -> dict:
    """`settings` with each model parameter given as a range (low, high) drawn uniformly per problem."""
    settings = dict(settings)
    for name in ("model_rho", "model_forcing"):
        if isinstance(settings.get(name), tuple):  # a mixed mismatch
            low, high = settings[name]
            # (a key folded off the step's, so that configs without a range draw exactly as before)
            settings[name] = jax.random.uniform(jax.random.fold_in(key, 7), (batch_size,), minval=low, maxval=high)
    return settings


def _simulated_step_body(model, opt_state, key, choices, optimizer, settings):
    every_choices, noise_choices, mask_choices, batch_size = choices
    k_every, k_noise, k_obs, k_problems = jax.random.split(key, 4)
    pick = lambda k, options: options[jax.random.randint(k, (batch_size,), 0, options.shape[0])]
    settings = draw_mismatch(settings, key, batch_size)
    problems = generate_problems(
        k_problems,
        batch_size,
        obs_every=pick(k_every, every_choices),
        obs_noise=pick(k_noise, noise_choices),
        observed=pick(k_obs, mask_choices),
        **settings,
    )

    def loss_fn(m):
        windows = jax.vmap(m.analyse)(problems)
        return normalised_mse(windows, problems.truth_window, m.climatology()[1])

    loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


def fit(
    config: TrainingConfig = TrainingConfig(),
    *,
    callback: ProgressCallback | None = None,
    model=None,
) -> tuple[object, TrainingReport]:
    """Train a model as `config` says (from `model` if given); `callback(step, loss)` is called after every step.

    The config's scheme says how each step's data are drawn (`training_scheme_for`): our FourDVarNet
    draws a fresh batch of simulated problems each step, the reference architecture trains as the
    notebook did on a fixed set of `batch_size` problems from `split(key 1, ...)`, and a config's
    `scheme` may name another (e.g. "cycled", core/nets/cycle_fourdvarnet.py).
    """
    model = build_model(config) if model is None else model
    start = time.perf_counter()
    losses: list[float] = []
    compile_s = 0.0
    optimizer, step_fn = training_scheme_for(config)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    key = jax.random.PRNGKey(config.seed + 1)
    for step in range(config.steps):
        key, step_key = jax.random.split(key)
        model, opt_state, loss = step_fn(model, opt_state, step_key, step)
        losses.append(float(loss))
        if step == 0:
            compile_s = time.perf_counter() - start
        if callback is not None:
            callback(step + 1, losses[-1])
    return model, TrainingReport(losses, time.perf_counter() - start, compile_s)


def training_scheme_for(config: TrainingConfig):
    """`(optimizer, step(model, opt_state, key, step_index) -> (model, opt_state, loss))` for `config`:
    its `scheme` if it names one, else its architecture's."""
    if config.scheme is None:
        return ARCHITECTURES[config.architecture].training_scheme(config)
    from core.nets.cycle_training import CYCLED_SCHEMES  # imports this module: resolved when used

    return CYCLED_SCHEMES[config.scheme](config)


def training_batch_for(config: TrainingConfig) -> Batch1D:
    """The reference's fixed training set: `batch_size` problems from `split(PRNGKey(1), ...)`."""
    problems = generate_problems(
        jax.random.PRNGKey(1),
        config.batch_size,
        preset=config.preset,
        obs_every=config.obs_every[0],
        obs_noise=config.obs_noise[0],
        observed=config.observed[0],
        T_assim=config.T_assim[0],
        **config.problem_settings(),
    )
    return Batch1D(input=problems.obs, mask=problems.mask, target=problems.truth_window)


def _choices(config: TrainingConfig):
    return (
        jnp.asarray(config.obs_every),
        jnp.asarray(config.obs_noise, jnp.float32),
        jnp.stack([observed_mask(c, config.state_size) for c in config.observed]),
    )


def vmap_signature(config: TrainingConfig) -> tuple:
    """Configs with equal signatures can be trained together by `fit_many`."""
    hyper = tuple(sorted({**DEFAULT_HYPERPARAMETERS, **config.hyperparameters}.items()))
    shapes = (len(config.obs_every), len(config.obs_noise), len(config.observed))
    return (
        config.architecture,
        config.preset,
        config.T_assim,
        config.steps,
        config.batch_size,
        config.learning_rate,
        hyper,
        shapes,
        tuple(sorted(config.problem_settings().items())),
    )


def fit_many(configs: Sequence[TrainingConfig]) -> list[tuple[object, TrainingReport]]:
    """Train several of our FourDVarNets at once, `eqx.filter_vmap`ped over the models: one compile
    and larger, better-filled operations. Each model starts and draws its data as `fit` would (from
    its config's seed); the arithmetic is batched, so weights agree with `fit`'s to round-off only.

    Raises:
        ValueError: the configs differ in more than their data choices and seeds (see `vmap_signature`).
    """
    configs = list(configs)
    if len({vmap_signature(c) for c in configs}) != 1 or configs[0].architecture != "fourdvarnet" or configs[0].scheme:
        raise ValueError("fit_many needs FourDVarNet configs alike but for their data choices and seeds")
    if len(configs[0].T_assim) != 1:
        raise ValueError("fit_many trains on one window length; use fit for a mix of lengths")
    first = configs[0]
    start = time.perf_counter()
    seeds = jnp.array([c.seed for c in configs])
    models = eqx.filter_vmap(lambda k: build_model(first, k))(jax.vmap(jax.random.PRNGKey)(seeds))
    optimizer = optimizer_for(first.learning_rate, first.steps)
    opt_states = eqx.filter_vmap(optimizer.init)(eqx.filter(models, eqx.is_array))
    every, noise, masks = (jnp.stack(parts) for parts in zip(*(_choices(c) for c in configs), strict=True))
    choices = (every, noise, masks, first.batch_size)
    keys = jax.vmap(jax.random.PRNGKey)(seeds + 1)
    losses, compile_s = [], 0.0
    for step in range(first.steps):
        split = jax.vmap(jax.random.split)(keys)  # each model's `key, step_key = split(key)`, as in `fit`
        keys, step_keys = split[:, 0], split[:, 1]
        models, opt_states, loss = _simulated_steps(
            models,
            opt_states,
            step_keys,
            choices,
            optimizer,
            {"preset": first.preset, "T_assim": first.T_assim[0], **first.problem_settings()},
        )
        losses.append(np.asarray(loss))
        if step == 0:
            compile_s = time.perf_counter() - start
    elapsed = time.perf_counter() - start
    history = np.stack(losses, axis=1) if losses else np.zeros((len(configs), 0))
    return [
        (
            jax.tree_util.tree_map(lambda a, i=i: a[i], models),
            TrainingReport(list(map(float, history[i])), elapsed, compile_s),
        )
        for i in range(len(configs))
    ]
