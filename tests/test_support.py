"""The shared test helpers can fail: the compile counter sees a compile, the wait gives up and says on what."""

import jax
import jax.numpy as jnp
import pytest
from support import count_compiles, wait_until


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
