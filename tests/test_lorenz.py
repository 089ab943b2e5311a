"""Lorenz-63 numerics against independent facts: a float64 integration, the fixed points, C+'s spectrum."""

import jax
import jax.numpy as jnp
import numpy as np

from core import Lorenz63Forward, fixed_points, lorenz63_vector_field


def _numpy_rk4(state, dt, n_steps, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    """An independent float64 integrator (plain numpy, RK4 with 20 substeps per step)."""

    def f(s):
        x, y, z = s
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    h = dt / 20
    out = [np.array(state, dtype=np.float64)]
    s = out[0].copy()
    for _ in range(n_steps):
        for _ in range(20):
            k1 = f(s)
            k2 = f(s + 0.5 * h * k1)
            k3 = f(s + 0.5 * h * k2)
            k4 = f(s + h * k3)
            s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(s.copy())
    return np.stack(out)


def test_rk4_rollout_matches_an_independent_float64_integration():
    x0 = np.array([1.5, -2.0, 20.0])
    ours = np.asarray(Lorenz63Forward(dt=0.01).rollout(jnp.asarray(x0, jnp.float32), 50))
    reference = _numpy_rk4(x0, 0.01, 50)
    assert ours.shape == (51, 3)
    # RK4's local error at dt = 0.01 is ~1e-8 of the state; float32 round-off dominates.
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_fixed_points_are_fixed():
    points = fixed_points()
    np.testing.assert_allclose(points[1], [np.sqrt(72.0), np.sqrt(72.0), 27.0], rtol=1e-6)
    np.testing.assert_allclose(lorenz63_vector_field(points), 0.0, atol=1e-4)
    np.testing.assert_allclose(Lorenz63Forward(dt=0.01).rollout(points[1], 100)[-1], points[1], atol=1e-4)


def test_c_plus_is_an_unstable_spiral_with_growth_rate_0_094():
    jacobian = jax.jacfwd(lorenz63_vector_field)(fixed_points()[1])
    eigenvalues = np.linalg.eigvals(np.asarray(jacobian, dtype=np.float64))
    complex_pair = eigenvalues[np.abs(eigenvalues.imag) > 1e-6]
    np.testing.assert_allclose(complex_pair.real, 0.0940, atol=5e-4)


def test_step_broadcasts_over_a_window():
    forward = Lorenz63Forward(dt=0.01)
    window = forward.rollout(jnp.array([1.0, 2.0, 20.0]), 10)
    np.testing.assert_allclose(forward.step(window[:-1]), window[1:], rtol=1e-6, atol=1e-5)
