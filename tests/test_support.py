"""The shared test helpers can fail: the compile counter sees a compile, the wait gives up and says on what."""

import jax
import jax.numpy as jnp
import pytest
from support import count_compiles, wait_until, within_float32_rounding


def test_the_compile_counter_counts_new_shapes_and_not_cached_calls():
    double = jax.jit(lambda x: 2 * x)
    small, other, large = jnp.ones(3), jnp.zeros(3), jnp.ones(4)
    with count_compiles() as first:
        double(small)
    with count_compiles() as cached:
        double(other)
    with count_compiles() as new_shape:
        double(large)
    assert (first.n, cached.n, new_shape.n) == (1, 0, 1)


def test_wait_until_fails_naming_what_it_waited_for():
    wait_until(lambda: True, 0.1, "nothing")
    with pytest.raises(AssertionError, match="waiting for the moon"):
        wait_until(lambda: False, 0.1, "the moon", poll_s=0.01)


def test_float32_rounding_tolerance_holds_for_rounding_and_not_for_a_real_difference():
    """A float32 run against the float64 run of the same start differs by rounding alone: within the
    tolerance; the same run from a start moved by 1e-3 is a different run: refused."""
    import numpy as np

    import core

    forward, x0, steps = core.Lorenz63Forward(), np.array([1.5, -1.5, 25.0]), 1000
    single = forward.rollout(jnp.asarray(x0, dtype=jnp.float32), steps)
    with jax.enable_x64(True):
        double = np.asarray(forward.rollout(jnp.asarray(x0, dtype=jnp.float64), steps))
    assert single.dtype == np.float32 and double.dtype == np.float64
    within_float32_rounding(single, double, forward.dt, 50)
    moved = forward.rollout(jnp.asarray(x0 + [1e-3, 0.0, 0.0], dtype=jnp.float32), steps)
    with pytest.raises(AssertionError, match="more than float32 rounding"):
        within_float32_rounding(moved, double, forward.dt, 50)
    # Long past the horizon, rounding alone has grown to the attractor's size: why the check stops there.
    long_single = np.asarray(forward.rollout(jnp.asarray(x0, dtype=jnp.float32), 4000))
    with jax.enable_x64(True):
        long_double = np.asarray(forward.rollout(jnp.asarray(x0, dtype=jnp.float64), 4000))
    assert np.abs(long_single - long_double)[3000:].max() > 1.0
