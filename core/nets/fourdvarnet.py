"""Our FourDVarNet: a learned solver of a dynamics-informed variational cost, close to 4DVar.

Over the window x (T, n), in physical units, it descends

    J(x) = 1/2 sum_t |mask_t (x_t - y_t) / sigma_o|^2          observations
         + 1/2 |(x_0 - x_b) / sigma_b|^2                        background
         + 1/2 sum_t |(x_{t+1} - M(x_t)) / sigma_q|^2           the methods' model (sigma_q learned)

whose dynamical term evaluates every time step at once (no sequential rollout). Each of K steps
feeds the normalised state, the RMS-normalised gradient, the mask, the innovation and the dynamical
residual to a ConvLSTM that convolves over time, and subtracts its output. The state starts from a
linear interpolation of the observations (the background where a component is never observed).
What differs from the reference (`FourDVarNet1D`): normalised inputs, the background, the known
dynamics as the prior, convolutions over time rather than across the 3 components, and training on
freshly simulated problems every step.

K is a traced loop bound at inference, so changing it does not recompile. The system (Lorenz-63, the
default, or Lorenz-96) and its size n are static fields: the channels are n per input and the state
is normalised by the system's climatology, so a model trained on one system is for that system only.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from core.methods.fourdvar import MIN_OBS_STD
from core.nets.convlstm import lstm_update, same_convolution
from core.setups.problems import CLIMATOLOGY_MEAN, CLIMATOLOGY_STD, Problem
from core.setups.window_systems import climatology

_MEAN = CLIMATOLOGY_MEAN
_STD = CLIMATOLOGY_STD
N_INPUTS = 5  # state, gradient, mask, innovation, dynamical residual: n channels each
N_INPUT_CHANNELS = N_INPUTS * 3  # on Lorenz-63


def interpolate_observations(
    obs: Float[Array, "T n"], mask: Float[Array, "T n"], fallback: Float[Array, " n"]
) -> Float[Array, "T n"]:
    """Per component, linear in time between observations, constant beyond the first and last one,
    and `fallback` for a component that is never observed. Works for a traced mask."""
    n_time = obs.shape[0]
    t = jnp.arange(n_time, dtype=obs.dtype)[:, None]
    seen = mask > 0
    previous = jax.lax.cummax(jnp.where(seen, t, -1.0), axis=0)
    following = jax.lax.cummin(jnp.where(seen, t, float(n_time)), axis=0, reverse=True)
    has_previous, has_following = previous >= 0, following < n_time
    y_previous = jnp.take_along_axis(obs, jnp.clip(previous, 0, n_time - 1).astype(int), axis=0)
    y_following = jnp.take_along_axis(obs, jnp.clip(following, 0, n_time - 1).astype(int), axis=0)
    weight = (t - previous) / jnp.maximum(following - previous, 1.0)
    between = (1.0 - weight) * y_previous + weight * y_following
    one_sided = jnp.where(has_previous, y_previous, y_following)
    estimate = jnp.where(has_previous & has_following, between, one_sided)
    return jnp.where(has_previous | has_following, estimate, fallback[None, :])


class TimeConv(eqx.Module):
    """A 'same'-padded 1D convolution over time (`same_convolution`), weights stored flat."""

    weight: Float[Array, "kc cout"]
    bias: Float[Array, " cout"]
    kernel_size: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, key, scale=1.0):
        fan_in = kernel_size * in_channels
        self.weight = scale * jax.random.normal(key, (fan_in, out_channels)) / jnp.sqrt(fan_in)
        self.bias = jnp.zeros(out_channels)
        self.kernel_size = kernel_size

    def __call__(self, x: Float[Array, "T cin"]) -> Float[Array, "T cout"]:
        weight = self.weight.reshape(self.kernel_size, x.shape[1], -1)
        return same_convolution(x, weight, self.bias)


class FourDVarNet(eqx.Module):
    """Dynamics-informed FourDVarNet (our default). Call `analyse(problem, n_steps)` for one window.

    Arguments:
        hidden_dim: ConvLSTM hidden channels.
        kernel_size: the convolution's width over time (odd).
        n_solver_steps: K used in training and as the default at inference.
        system: "lorenz63" (the default) or "lorenz96": the climatology that normalises the state.
        n_variables: the state's size n (3 on Lorenz-63); each input has n channels.
        key: PRNG key for the initial weights.
    """

    gates: TimeConv
    output: TimeConv
    log_model_error_std: Float[Array, ""]
    hidden_dim: int = eqx.field(static=True)
    n_solver_steps: int = eqx.field(static=True)
    system: str = eqx.field(static=True)
    n_variables: int = eqx.field(static=True)

    def __init__(
        self,
        hidden_dim: int = 24,
        kernel_size: int = 11,
        n_solver_steps: int = 5,
        *,
        system: str = "lorenz63",
        n_variables: int = 3,
        key,
    ):
        k_gates, k_out = jax.random.split(key)
        self.gates = TimeConv(N_INPUTS * n_variables + hidden_dim, 4 * hidden_dim, kernel_size, key=k_gates)
        # Small first updates: training starts close to "keep the interpolation".
        self.output = TimeConv(hidden_dim, n_variables, 1, key=k_out, scale=0.1)
        self.log_model_error_std = jnp.log(jnp.asarray(0.05, dtype=jnp.float32))
        self.hidden_dim = hidden_dim
        self.n_solver_steps = n_solver_steps
        self.system = system
        self.n_variables = n_variables

    def climatology(self) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
        if self.system == "lorenz63":
            return jnp.asarray(_MEAN), jnp.asarray(_STD)
        return climatology(self.system, self.n_variables)

    def cost(self, x: Float[Array, "T n"], problem: Problem) -> Float[Array, ""]:
        """The variational cost J(x) above, for one problem."""
        obs_std = jnp.maximum(problem.obs_noise, MIN_OBS_STD)
        observation = jnp.sum((problem.mask * (x - problem.obs) / obs_std) ** 2)
        background = jnp.sum(((x[0] - problem.background_mean) / problem.background_std) ** 2)
        residual = dynamical_residual(x, problem) / jnp.exp(self.log_model_error_std)
        return 0.5 * (observation + background + jnp.sum(residual**2))

    def _step(self, z, hidden, cell, problem: Problem):
        mean, std = self.climatology()
        x = mean + std * z
        gradient = jax.grad(self.cost)(x, problem) * std
        gradient = gradient / (jnp.sqrt(jnp.mean(gradient**2)) + 1e-6)
        innovation = problem.mask * (x - problem.obs) / std
        residual = dynamical_residual(x, problem) / std * 10.0  # residuals are ~0.1 of a step
        features = [z, gradient, problem.mask, innovation, residual, hidden]
        hidden, cell = lstm_update(self.gates(jnp.concatenate(features, axis=1)), cell, axis=1)
        return z - self.output(hidden), hidden, cell

    def _start(self, problem: Problem, first_guess: Float[Array, "T n"] | None = None):
        if first_guess is None:
            first_guess = interpolate_observations(problem.obs, problem.mask, problem.background_mean)
        mean, std = self.climatology()
        z = (first_guess - mean) / std
        zeros = jnp.zeros((z.shape[0], self.hidden_dim))
        return z, zeros, zeros

    def analyse(
        self,
        problem: Problem,
        n_steps: Int[Array, ""] | int | None = None,
        first_guess: Float[Array, "T n"] | None = None,
    ):
        """The analysed window `(T_assim + 1, n)` after `n_steps` learned steps.

        A traced `n_steps` (inference) is a loop bound, so a new K does not recompile; a Python int
        (the default, training) makes a loop of static length, which lowers to a differentiable scan.
        `first_guess` replaces the interpolated observations as the starting window (the cycle starts
        from the forecast, `core/nets/cycle_fourdvarnet.py`).
        """
        n_steps = self.n_solver_steps if n_steps is None else n_steps
        z, hidden, cell = jax.lax.fori_loop(
            0, n_steps, lambda _, carry: self._step(*carry, problem), self._start(problem, first_guess)
        )
        mean, std = self.climatology()
        return mean + std * z

    def first_states(self, problem: Problem, n_steps: Int[Array, ""] | int, max_steps: int = 20) -> Float[Array, "m n"]:
        """The window's first state x_0 at the start and after each learned step: `(max_steps + 1, n)`.

        `n_steps` is traced (rows after it repeat the last state); `max_steps` bounds it statically.
        """

        def body(carry, i):
            new = self._step(*carry, problem)
            carry = jax.tree_util.tree_map(lambda a, b: jnp.where(i < n_steps, a, b), new, carry)
            return carry, carry[0][0]

        start = self._start(problem)
        _, firsts = jax.lax.scan(body, start, jnp.arange(max_steps))
        z = jnp.concatenate([start[0][:1], firsts], axis=0)
        mean, std = self.climatology()
        return mean + std * z


def dynamical_residual(x: Float[Array, "T n"], problem: Problem) -> Float[Array, "T n"]:
    """x_t - M(x_{t-1}) for t >= 1, and 0 at t = 0: all time steps at once, M the methods' model."""
    return jnp.concatenate([jnp.zeros_like(x[:1]), x[1:] - problem.forward.step(x[:-1])], axis=0)


def normalised_mse(
    windows: Float[Array, "B T n"], truth: Float[Array, "B T n"], std: Float[Array, " n"] | None = None
) -> Float[Array, ""]:
    """The mean squared error in units of the climatological std (`std`; None: Lorenz-63's)."""
    std = jnp.asarray(_STD) if std is None else std
    return jnp.mean(((windows - truth) / std) ** 2)
