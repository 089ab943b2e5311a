"""Block-tridiagonal linear algebra for a Gauss-Newton system over a time window (weak 4DVar's).

H = J^T J of residuals that couple only neighbouring times is block tridiagonal with n x n blocks:
a block Cholesky elimination forward in time and a back-substitution (both `lax.scan`s) solve it in
O(T n^3), with no (nT x nT) matrix; the same sweep gives H^-1's diagonal blocks by the RTS smoother's
recursion (tests/test_weak4dvar.py checks both against a dense solve and a Kalman smoother).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float


class Blocks(eqx.Module):
    """The Gauss-Newton system at a trajectory: H = J^T J (block tridiagonal) and g = J^T r."""

    diagonal: Float[Array, "T_plus_1 n n"]  # H_tt
    lower: Float[Array, "T n n"]  # H_{t,t-1} for t = 1 .. T (the upper blocks are their transposes)
    gradient: Float[Array, "T_plus_1 n"]


class Elimination(eqx.Module):
    """The forward sweep of a block Cholesky elimination: S_t's factors and G_t = S_{t-1}^-1 H_{t,t-1}^T."""

    chol: Float[Array, "T_plus_1 n n"]  # lower Cholesky factor of each Schur complement S_t
    gain: Float[Array, "T n n"]  # G_t for t = 1 .. T


def eliminate(blocks: Blocks) -> Elimination:
    """S_0 = H_00, S_t = H_tt - H_{t,t-1} S_{t-1}^-1 H_{t,t-1}^T (a `lax.scan` over time)."""

    def body(chol_prev, inputs):
        diagonal, lower = inputs
        gain = jsl.cho_solve((chol_prev, True), lower.T)
        chol = jnp.linalg.cholesky(diagonal - lower @ gain)
        return chol, (chol, gain)

    chol_0 = jnp.linalg.cholesky(blocks.diagonal[0])
    _, (chol, gain) = jax.lax.scan(body, chol_0, (blocks.diagonal[1:], blocks.lower))
    return Elimination(chol=jnp.concatenate([chol_0[None], chol]), gain=gain)


def block_solve(elimination: Elimination, rhs: Float[Array, "T_plus_1 n"]) -> Float[Array, "T_plus_1 n"]:
    """H^-1 rhs: forward substitution, then back-substitution x_t = S_t^-1 z_t - G_{t+1} x_{t+1}."""

    def forward(z_prev, inputs):
        b, gain = inputs
        z = b - gain.T @ z_prev
        return z, z

    _, z = jax.lax.scan(forward, rhs[0], (rhs[1:], elimination.gain))
    z = jnp.concatenate([rhs[:1], z])

    def backward(x_next, inputs):
        chol, z_t, gain = inputs
        x = jsl.cho_solve((chol, True), z_t) - gain @ x_next
        return x, x

    x_last = jsl.cho_solve((elimination.chol[-1], True), z[-1])
    _, x = jax.lax.scan(backward, x_last, (elimination.chol[:-1], z[:-1], elimination.gain), reverse=True)
    return jnp.concatenate([x, x_last[None]])


def posterior_variances(elimination: Elimination) -> Float[Array, "T_plus_1 n"]:
    """The diagonal of H^-1 from its diagonal blocks, backward in time (the RTS smoother's recursion):
    Sigma_T = S_T^-1, Sigma_t = S_t^-1 + G_{t+1} Sigma_{t+1} G_{t+1}^T."""
    n = elimination.chol.shape[-1]
    eye = jnp.eye(n, dtype=elimination.chol.dtype)

    def inverse(chol):
        return jsl.cho_solve((chol, True), eye)

    def backward(sigma_next, inputs):
        chol, gain = inputs
        sigma = inverse(chol) + gain @ sigma_next @ gain.T
        return sigma, jnp.diagonal(sigma)

    sigma_last = inverse(elimination.chol[-1])
    _, variances = jax.lax.scan(backward, sigma_last, (elimination.chol[:-1], elimination.gain), reverse=True)
    return jnp.concatenate([variances, jnp.diagonal(sigma_last)[None]])


def apply_blocks(blocks: Blocks, v: Float[Array, "T_plus_1 n"]) -> Float[Array, "T_plus_1 n"]:
    """H v from the blocks: (H v)_t = H_tt v_t + H_{t,t-1} v_{t-1} + H_{t+1,t}^T v_{t+1}."""
    hv = jnp.einsum("tij,tj->ti", blocks.diagonal, v)
    hv = hv.at[1:].add(jnp.einsum("tij,tj->ti", blocks.lower, v[:-1]))
    return hv.at[:-1].add(jnp.einsum("tji,tj->ti", blocks.lower, v[1:]))
