"""Localisation for ensembles smaller than the state: distances on a circle and DAPPER's default taper.

An ensemble of N members spans at most N - 1 directions; on Lorenz-96 (40 variables) with N = 7 its
sample covariances between far-apart variables are noise. The LETKF analyses each variable with the
observations near it, each weighted by a taper of their distance that falls from 1 to 0.

The taper is Gaspari & Cohn's (1999, eqn 4.10) fifth-order piecewise rational function, with
DAPPER's convention for the radius (`dapper/tools/localization.py`, `dist2coeff(..., tag="GC")`):
its support is 2c with c = 1.82 * `radius`, so DAPPER's tuned `loc_rad` values carry over.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

GC_SCALE = 1.82  # DAPPER's c / loc_rad (~ sqrt(10/3)): the taper is ~0.63 at one radius
TAPER_CUTOFF = 1e-3  # DAPPER drops observations whose taper is below this


def periodic_distances(n: int) -> Float[Array, "n n"]:
    """Distances between the `n` grid points of a circle of `n` unit-spaced points (Lorenz-96's)."""
    index = jnp.arange(n)
    gap = jnp.abs(index[:, None] - index[None, :])
    return jnp.minimum(gap, n - gap).astype(jnp.float32)


def gaspari_cohn(distance: Float[Array, "..."], radius: float | Float[Array, ""]) -> Float[Array, "..."]:
    """The Gaspari-Cohn taper of `distance` for DAPPER's localisation radius `radius` (inf: all ones)."""
    c = GC_SCALE * radius
    r = jnp.abs(distance) / c
    inner = (((-0.25 * r + 0.5) * r + 0.625) * r - 5.0 / 3.0) * r**2 + 1.0
    safe_r = jnp.where(r > 0, r, 1.0)  # (the outer branch divides by r; r = 0 never takes it)
    outer = ((((r / 12.0 - 0.5) * r + 0.625) * r + 5.0 / 3.0) * r - 5.0) * r + 4.0 - 2.0 / (3.0 * safe_r)
    taper = jnp.where(r <= 1.0, inner, jnp.where(r <= 2.0, outer, 0.0))
    return jnp.clip(taper, 0.0, 1.0)  # (rounding leaves ~-1e-8 just inside 2c)


def batch_tapers(n_variables: int, batch_size: int, radius) -> Float[Array, "n_batches n"]:
    """The taper of every observation (one per variable) for each batch of `batch_size` neighbours.

    As DAPPER's `obs_taperer`: the taper of the mean distance from the batch's variables to the
    observation, and 0 below DAPPER's cut-off (that observation is left out of the batch's update).
    """
    distances = periodic_distances(n_variables).reshape(n_variables // batch_size, batch_size, n_variables)
    tapers = gaspari_cohn(jnp.mean(distances, axis=1), radius)
    return jnp.where(tapers > TAPER_CUTOFF, tapers, 0.0)
