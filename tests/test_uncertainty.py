"""The Gauss-Newton posterior of a 4DVar analysis: a linear closed form, finite differences, calibration."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import core
from core.methods.uncertainty import band_coverage, posterior_covariance, posterior_std


def _problem(**settings):
    return core.generate_problem(jax.random.PRNGKey(5), **settings)


def test_posterior_with_only_the_first_state_observed_is_the_linear_closed_form():
    """Observing x0 alone makes the cost quadratic: P0 = (B^-1 + H^T R^-1 H)^-1, diagonal here."""
    problem = _problem(obs_noise=0.7, observed=(0, 2))
    mask = problem.mask.at[1:].set(0.0)
    problem = eqx.tree_at(lambda p: p.mask, problem, mask)
    x0 = core.strong_4dvar(problem).x0
    expected = 1.0 / (1.0 / problem.background_std**2 + np.array([1.0, 0.0, 1.0]) / 0.7**2)
    np.testing.assert_allclose(np.asarray(posterior_covariance(x0, problem)), np.diag(expected), rtol=1e-4, atol=1e-6)
    # With a linear cost the band at t = 0 is exactly the prior/posterior std.
    np.testing.assert_allclose(np.asarray(posterior_std(x0, problem))[0], np.sqrt(expected), rtol=1e-4)


def test_posterior_covariance_against_finite_differences():
    problem = _problem(obs_every=5, obs_noise=0.5)
    x0 = core.strong_4dvar(problem).x0
    x0_64 = np.asarray(x0, np.float64)

    def r(x):
        return np.asarray(core.residuals(jnp.asarray(x, jnp.float32), problem), np.float64)

    h = 1e-2
    jac = np.stack([(r(x0_64 + h * e) - r(x0_64 - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    expected = np.linalg.inv(jac.T @ jac)
    np.testing.assert_allclose(np.asarray(posterior_covariance(x0, problem)), expected, rtol=2e-2, atol=1e-6)


def test_band_is_the_tangent_linear_spread_of_a_small_posterior_sample():
    """Draws from N(x0, P0) pushed through the model: their spread over the window is the band."""
    problem = _problem(obs_every=2, obs_noise=0.1)
    x0 = core.strong_4dvar(problem).x0
    cov0 = np.asarray(posterior_covariance(x0, problem), np.float64)
    draws = np.random.default_rng(0).multivariate_normal(np.asarray(x0, np.float64), cov0, 4000)
    runs = jax.vmap(lambda x: problem.forward.rollout(x, problem.T_assim))(jnp.asarray(draws, jnp.float32))
    sample_std = np.asarray(runs, np.float64).std(axis=0)
    band = np.asarray(posterior_std(x0, problem))[: problem.T_assim + 1]
    np.testing.assert_allclose(band, sample_std, rtol=0.08)


def test_band_coverage_small_batch():
    result = band_coverage(32, key=1)
    assert result["n_converged"] >= 30
    assert 0.85 <= result["coverage"] <= 0.99


@pytest.mark.slow
def test_band_coverage_256_default_problems_is_calibrated():
    result = band_coverage(256)
    assert 0.90 <= result["coverage"] <= 0.98


@pytest.mark.ci  # ~11 s on 2 cores: a batch of solves and bands
def test_the_band_is_calibrated_where_4dvar_converged_and_only_there():
    """The issue's set-up (100-step windows, obs every 8, noise std sqrt 2): over 256 problems a
    quarter converge. Where 4DVar converged, +-2 posterior stds should hold ~95% of the truth points
    (Gaussian 0.954; the bounds leave room for the linearisation and ~70 problems' sampling); over
    all solves, wrong minima included, the band holds far fewer: why the page draws it only there."""
    result = band_coverage(256, obs_every=8, obs_noise=2**0.5, T_assim=100)
    assert result["n_converged"] >= 40
    assert 0.85 <= result["coverage_converged"] <= 0.995
    assert result["coverage"] < 0.6
