"""`check_range` refuses a concrete value out of range, naming it, and leaves traced values alone (their
range is checked where the concrete value entered)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from core._validate import check_range, is_concrete


@pytest.mark.parametrize("value", [7, 7.0, np.float32(7), jnp.asarray(7.0), jnp.full(3, 7.0)])
def test_a_concrete_value_out_of_range_is_refused_by_name(value):
    assert is_concrete(value)
    with pytest.raises(ValueError, match=r"obs_noise must be between 0 and 5; got"):
        check_range("obs_noise", value, 0, 5)


def test_traced_values_are_not_checked_under_jit_vmap_or_grad():
    def checked(x):
        assert not is_concrete(x)
        check_range("obs_noise", x, 0, 5)  # 7 is out of range, but only known when run
        return 2 * x

    assert float(jax.jit(checked)(7.0)) == 14.0
    np.testing.assert_array_equal(jax.vmap(checked)(jnp.full(2, 7.0)), [14.0, 14.0])
    assert float(jax.grad(checked)(7.0)) == 2.0
