"""The two building blocks both FourDVarNets share: a 'same' convolution as one matmul, an LSTM update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def same_convolution(
    x: Float[Array, "L C"], weight: Float[Array, "K C O"], bias: Float[Array, " O"]
) -> Float[Array, "L O"]:
    """A stride-1, zero-padded ('same') convolution along the first axis, written as one matmul
    over the K stacked shifts: XLA's CPU convolution backward passes are several times slower than
    this for channels as small as ours."""
    kernel_size, length = weight.shape[0], x.shape[0]
    half = kernel_size // 2
    padded = jnp.pad(x, ((half, half), (0, 0)))
    shifts = jnp.concatenate([padded[i : i + length] for i in range(kernel_size)], axis=1)
    return shifts @ weight.reshape(-1, weight.shape[-1]) + bias


def lstm_update(
    pre_activations: Float[Array, "... 4H"], cell: Float[Array, "... H"], axis: int = -1
) -> tuple[Float[Array, "... H"], Float[Array, "... H"]]:
    """(hidden, cell) of an LSTM from its four stacked gate pre-activations (input, forget, output,
    candidate) along `axis`."""
    i, f, o, g = jnp.split(pre_activations, 4, axis=axis)
    cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(cell), cell
