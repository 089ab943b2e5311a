"""The shared 'same' convolution against numpy's convolution, its gradient against finite differences
in float64, both FourDVarNets' convolutions against Equinox's own `Conv1d` and a numpy loop, and the
reference's training step, compiled for speed, against the default compile."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from core.nets.convlstm import same_convolution
from core.nets.fourdvarnet import TimeConv
from core.nets.fourdvarnet_reference import conv1d_same, mse_loss, train_step


def numpy_same_convolution(x, weight, bias):
    """out[l, o] = sum_{k, c} weight[k, c, o] x[l + k - K // 2, c] (zero outside), by `np.convolve` per
    channel pair: convolve flips its kernel, so the kernel is passed reversed (a correlation)."""
    length, kernel_size = x.shape[0], weight.shape[0]
    out = np.tile(np.asarray(bias, np.float64), (length, 1))
    for c in range(x.shape[1]):
        for o in range(weight.shape[2]):
            full = np.convolve(np.asarray(x[:, c], np.float64), np.asarray(weight[::-1, c, o], np.float64))
            out[:, o] += full[kernel_size // 2 : kernel_size // 2 + length]
    return out


@pytest.mark.parametrize(
    ("length", "channels", "kernel_size", "outputs"), [(51, 39, 11, 7), (3, 118, 3, 5), (4, 2, 5, 3)]
)
def test_same_convolution_equals_numpy_convolve(length, channels, kernel_size, outputs):
    # (51, 39, 11): ours over time; (3, 118, 3): the reference across 3 components; (4, 2, 5): kernel wider than x.
    kx, kw, kb = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (length, channels))
    weight = jax.random.normal(kw, (kernel_size, channels, outputs))
    bias = jax.random.normal(kb, (outputs,))
    expected = numpy_same_convolution(x, weight, bias)
    # float32 rounding of a sum of K C products, each below 1 in mean size: at most eps K C.
    bound = np.finfo(np.float32).eps * kernel_size * channels
    np.testing.assert_allclose(same_convolution(x, weight, bias), expected, atol=bound, rtol=0)


def test_same_convolution_gradient_matches_finite_differences_in_float64():
    with jax.enable_x64(True):
        kx, kw, kb, kc = jax.random.split(jax.random.PRNGKey(1), 4)
        x = jax.random.normal(kx, (9, 4), jnp.float64)
        weight = jax.random.normal(kw, (5, 4, 3), jnp.float64)
        bias = jax.random.normal(kb, (3,), jnp.float64)
        cotangent = jax.random.normal(kc, (9, 3), jnp.float64)

        @jax.jit
        def objective(x, weight, bias):  # a nonlinear read-out so that every entry's gradient differs
            return jnp.sum(jnp.tanh(same_convolution(x, weight, bias)) * cotangent)

        grads = jax.grad(objective, argnums=(0, 1, 2))(x, weight, bias)
        step = 1e-6
        for argnum, (value, grad) in enumerate(zip((x, weight, bias), grads, strict=True)):
            flat = np.asarray(value).ravel()
            numeric = np.empty_like(flat)
            for i in range(flat.size):
                plus, minus = flat.copy(), flat.copy()
                plus[i] += step
                minus[i] -= step
                args = [x, weight, bias]
                args[argnum] = jnp.asarray(plus.reshape(value.shape))
                f_plus = objective(*args)
                args[argnum] = jnp.asarray(minus.reshape(value.shape))
                numeric[i] = (f_plus - objective(*args)) / (2 * step)
            # Central differences in float64: truncation ~step^2, rounding ~1e-16 / step.
            np.testing.assert_allclose(np.asarray(grad).ravel(), numeric, atol=1e-8, rtol=1e-7)


def test_reference_conv_equals_equinox_conv1d():
    conv = eqx.nn.Conv1d(118, 64, 3, padding="SAME", key=jax.random.PRNGKey(2))
    x = jax.random.normal(jax.random.PRNGKey(3), (118, 3))
    np.testing.assert_allclose(conv1d_same(conv, x), conv(x), atol=1e-5, rtol=1e-5)


def test_time_conv_equals_the_numpy_convolution_of_its_flat_weights():
    conv = TimeConv(6, 4, 5, key=jax.random.PRNGKey(4))
    conv = eqx.tree_at(lambda c: c.bias, conv, jnp.arange(4.0))
    x = jax.random.normal(jax.random.PRNGKey(5), (20, 6))
    # The flat weight's rows are (tap, input channel) pairs, tap-major.
    expected = numpy_same_convolution(x, np.asarray(conv.weight).reshape(5, 6, 4), conv.bias)
    np.testing.assert_allclose(conv(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.ci  # ~12 s: two compiles of a training step
def test_reference_train_step_compiled_for_speed_equals_the_default_compile():
    """`train_step` compiles with XLA's classic CPU emitters: one step equals the default compile's to rounding."""
    from core.nets.training import REFERENCE_CONFIG, build_model, training_batch_for

    model = build_model(REFERENCE_CONFIG)
    batch = training_batch_for(REFERENCE_CONFIG)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def default_step(model, opt_state):
        loss, grads = eqx.filter_value_and_grad(mse_loss)(model, batch)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), loss

    fast_model, _, fast_loss = train_step(model, batch, optimizer, opt_state)
    default_model, default_loss = default_step(model, opt_state)
    assert float(fast_loss) == pytest.approx(float(default_loss), rel=1e-6)
    leaves = lambda m: jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))
    moved = lambda m: np.concatenate([np.ravel(a - b) for a, b in zip(leaves(m), leaves(model), strict=True)])
    # Adam's first step moves each weight by the learning rate times g / |g|: the same up to rounding.
    np.testing.assert_allclose(moved(fast_model), moved(default_model), atol=1e-6)
    assert np.max(np.abs(moved(default_model))) > 0.9e-2
