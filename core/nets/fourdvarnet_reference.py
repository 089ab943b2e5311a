"""The reference notebook's FourDVarNet, rebuilt as it describes it (about 29k parameters; the
notebook's own calls are replayed by tests/test_notebook.py).

State: the window x (T, 3), started from the masked observations. K times:
    J(x) = sum (mask (x - obs))^2 + lambda sum (x - phi(x))^2,  g = grad J,
    (u, h) = ConvLSTM(g, x, h),  x <- x - 0.2 u.
phi is a bilinear autoencoder over the 3 T flattened values; the ConvLSTM stacks gradient and state
along time as 2 T channels and convolves (kernel 3) across the 3 Lorenz components.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from core.nets.convlstm import lstm_update, same_convolution

STEP_SIZE = 0.2
PRIOR_WEIGHT = 1.0


class Batch1D(eqx.Module):
    """A batch of windows: `input` (observations, 0 where unobserved), `mask`, `target` (truth)."""

    input: Float[Array, "B T N"]
    mask: Float[Array, "B T N"]
    target: Float[Array, "B T N"]


class BilinearAutoencoder(eqx.Module):
    """phi(x) = decode(relu(A x) * tanh(B x)) over the flattened window."""

    encode_relu: eqx.nn.Linear
    encode_tanh: eqx.nn.Linear
    decode: eqx.nn.Linear

    def __init__(self, size: int, latent_dim: int, *, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.encode_relu = eqx.nn.Linear(size, latent_dim, key=k1)
        self.encode_tanh = eqx.nn.Linear(size, latent_dim, key=k2)
        self.decode = eqx.nn.Linear(latent_dim, size, key=k3)

    def __call__(self, x: Float[Array, "T N"]) -> Float[Array, "T N"]:
        flat = x.ravel()
        latent = jax.nn.relu(self.encode_relu(flat)) * jnp.tanh(self.encode_tanh(flat))
        return self.decode(latent).reshape(x.shape)


def conv1d_same(conv: eqx.nn.Conv1d, x: Float[Array, "C L"]) -> Float[Array, "O L"]:
    """`conv(x)` for a 'SAME'-padded, stride-1 `eqx.nn.Conv1d` (channels first), computed by
    `same_convolution`: the same numbers as `conv(x)`, with much faster CPU backward passes."""
    weight = jnp.transpose(conv.weight, (2, 1, 0))  # (O, C, K) -> (K, C, O)
    return same_convolution(x.T, weight, conv.bias[:, 0]).T


class ConvLSTMCell(eqx.Module):
    """An LSTM cell whose gates are 1D convolutions ('same' padding) over the last axis."""

    gates: eqx.nn.Conv1d
    hidden_dim: int = eqx.field(static=True)

    def __init__(self, in_channels: int, hidden_dim: int, kernel_size: int, *, key: PRNGKeyArray):
        self.gates = eqx.nn.Conv1d(in_channels + hidden_dim, 4 * hidden_dim, kernel_size, padding="SAME", key=key)
        self.hidden_dim = hidden_dim

    def __call__(self, inputs, hidden, cell):
        return lstm_update(conv1d_same(self.gates, jnp.concatenate([inputs, hidden], axis=0)), cell, axis=0)


class FourDVarNet1D(eqx.Module):
    """The reference architecture. `model(batch)` returns the analysed windows `(B, T, N)`.

    Arguments:
        state_dim: N, the number of state components (3).
        n_time: T, the window length in states (51).
        latent_dim: the autoencoder prior's latent size (8).
        hidden_dim: the ConvLSTM's hidden channels (16).
        n_solver_steps: K, the unrolled gradient steps (5).
        key: PRNG key for the initial weights.
    """

    prior: BilinearAutoencoder
    lstm: ConvLSTMCell
    output: eqx.nn.Conv1d
    n_solver_steps: int = eqx.field(static=True)

    def __init__(self, state_dim=3, n_time=51, latent_dim=8, hidden_dim=16, n_solver_steps=5, *, key):
        k_prior, k_lstm, k_out = jax.random.split(key, 3)
        self.prior = BilinearAutoencoder(state_dim * n_time, latent_dim, key=k_prior)
        self.lstm = ConvLSTMCell(2 * n_time, hidden_dim, 3, key=k_lstm)
        self.output = eqx.nn.Conv1d(hidden_dim, n_time, 3, padding="SAME", key=k_out)
        self.n_solver_steps = n_solver_steps

    def cost(self, x, obs, mask):
        return jnp.sum((mask * (x - obs)) ** 2) + PRIOR_WEIGHT * jnp.sum((x - self.prior(x)) ** 2)

    def solve(self, obs: Float[Array, "T N"], mask: Float[Array, "T N"]) -> Float[Array, "T N"]:
        """One window: K modulated gradient steps from the masked observations."""
        n_state = obs.shape[1]
        zeros = jnp.zeros((self.lstm.hidden_dim, n_state))

        def step(carry, _):
            x, hidden, cell = carry
            grad = jax.grad(self.cost)(x, obs, mask)
            # Time becomes channels: the convolution runs across the 3 Lorenz components.
            hidden, cell = self.lstm(jnp.concatenate([grad, x], axis=0), hidden, cell)
            x = x - STEP_SIZE * conv1d_same(self.output, hidden)
            return (x, hidden, cell), None

        (x, _, _), _ = jax.lax.scan(step, (mask * obs, zeros, zeros), None, length=self.n_solver_steps)
        return x

    def __call__(self, batch: Batch1D) -> Float[Array, "B T N"]:
        return jax.vmap(self.solve)(batch.input, batch.mask)


def mse_loss(model, batch: Batch1D) -> Float[Array, ""]:
    return jnp.mean((model(batch) - batch.target) ** 2)


# XLA's CPU fusion emitters spend ~1/5 of this step's compile CPU time and more of its wall time, and the
# compile is most of the notebook's 200-step training: its classic emitters compile faster and run the
# step as fast (docs/bench_convolution.py). An XLA CPU option: other backends ignore it.
FAST_CPU_COMPILE = {"xla_cpu_use_fusion_emitters": False}


@functools.partial(jax.jit, static_argnums=2, compiler_options=FAST_CPU_COMPILE)
def train_step(model, batch: Batch1D, optimizer: optax.GradientTransformation, opt_state):
    """One full-batch Adam step on the MSE against the truth; returns (model, opt_state, loss)."""
    loss, grads = eqx.filter_value_and_grad(mse_loss)(model, batch)
    updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss
