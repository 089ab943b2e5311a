"""The ensemble family in the cycle: EnKF with perturbed observations, square-root EnKF (ETKF), LETKF, iEnKS.

Formulas as DAPPER's `da_methods/ensemble.py` (`EnKF_analysis`, `post_process`) and
`da_methods/variational.py` (`iEnKS_update`), written in whitened observation space:
Y = (H E - mean) R^{-1/2}, so an unobserved component is a zero column and the mask stays data.
An ensemble is `(N, n)`: the model step broadcasts over members, so the forecast is vmapped for free.
N is a shape (static); inflation and lag are arrays (a new value does not recompile).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from core._validate import check_range
from core.da.cycle import AbstractCycledMethod, CycleSetup, forecast
from core.da.registry import register_method
from core.methods.localisation import batch_tapers

N_ITERATIONS = 10  # DAPPER's iEnKS default nIter (wtol = 0: always all of them)


def ensemble_stats(ensemble: Float[Array, "N n"]) -> tuple[Float[Array, " n"], Float[Array, " n"]]:
    """Mean and unbiased standard deviation of each component."""
    return jnp.mean(ensemble, axis=0), jnp.std(ensemble, axis=0, ddof=1)


def initial_ensemble(setup: CycleSetup, key: PRNGKeyArray, n_members: int) -> Float[Array, "N n"]:
    """N draws of N(x0_mean, x0_std^2 I), as DAPPER's `HMM.X0.sample(N)`."""
    return setup.x0_mean + setup.x0_std * jax.random.normal(key, (n_members, setup.n_variables))


def _whitened_obs_anomalies(ensemble, y, setup: CycleSetup):
    mean = jnp.mean(ensemble, axis=0)
    rinv = setup.obs_precision_sqrt
    return mean, ensemble - mean, (ensemble - mean) * rinv, (y - mean) * rinv


def _psd_powers(sym: Float[Array, "N N"], shift, powers) -> list[Float[Array, "N N"]]:
    """(sym + shift I)^(-p) for each p, from one eigendecomposition of the symmetric PSD `sym`."""
    evals, evecs = jnp.linalg.eigh(sym)
    shifted = jnp.maximum(evals, 0.0) + shift
    return [(evecs * shifted ** (-p)) @ evecs.T for p in powers]


def sqrt_analysis(ensemble: Float[Array, "N n"], y: Float[Array, " n"], setup: CycleSetup) -> Float[Array, "N n"]:
    """The ETKF update with the symmetric square root (DAPPER's `EnKF_analysis(..., 'Sqrt')`)."""
    mean, anomalies, yw, dy = _whitened_obs_anomalies(ensemble, y, setup)
    weights, transform = _etkf_weights(yw, dy)
    return mean + weights @ anomalies + transform @ anomalies


def _etkf_weights(yw: Float[Array, "N m"], dy: Float[Array, " m"]) -> tuple[Float[Array, " N"], Float[Array, "N N"]]:
    """The ETKF's update in ensemble space: the mean's weights and the symmetric square-root transform
    (the analysis is mean + (weights + transform) @ anomalies), from whitened anomalies and innovation."""
    n1 = yw.shape[0] - 1
    pw, transform = _psd_powers(yw @ yw.T, n1, (1.0, 0.5))
    return pw @ (yw @ dy), transform * jnp.sqrt(n1)


def perturbed_obs_analysis(
    ensemble: Float[Array, "N n"], y: Float[Array, " n"], setup: CycleSetup, key: PRNGKeyArray
) -> Float[Array, "N n"]:
    """The stochastic EnKF update (Burgers et al. 1998; DAPPER's `EnKF_analysis(..., 'PertObs')`).

    The observation perturbations are centred and rescaled by sqrt(N / (N - 1)), as DAPPER's `mean0`.
    """
    n = ensemble.shape[0]
    _, anomalies, yw, _ = _whitened_obs_anomalies(ensemble, y, setup)
    noise = jax.random.normal(key, ensemble.shape)
    noise = (noise - jnp.mean(noise, axis=0)) * jnp.sqrt(n / (n - 1)) * setup.observed
    innovations = (y - ensemble) * setup.obs_precision_sqrt - noise  # whitened y - D - H E_i
    c = yw.T @ yw + (n - 1) * jnp.eye(ensemble.shape[1])
    # The transposed gain C^{-1} Yw^T A is n x n: form it first, never an N x N product.
    return ensemble + innovations @ jnp.linalg.solve(c, yw.T @ anomalies)


def _ones_first_basis(n: int) -> np.ndarray:
    return np.linalg.svd(np.ones((n, 1)))[0]


def random_rotation(key: PRNGKeyArray, n: int) -> Float[Array, "N N"]:
    """A random orthogonal N x N matrix that keeps the ensemble mean (DAPPER's `genOG_1`):
    a Haar rotation of the N - 1 directions orthogonal to (1, ..., 1)."""
    basis = jnp.asarray(_ones_first_basis(n), jnp.float32)
    q, r = jnp.linalg.qr(jax.random.normal(key, (n - 1, n - 1)))
    q = q * jnp.where(jnp.diag(r) < 0, -1.0, 1.0)
    block = jnp.zeros((n, n)).at[0, 0].set(1.0).at[1:, 1:].set(q)
    return basis @ block @ basis.T


def post_process(ensemble, inflation, rotate: bool, key: PRNGKeyArray):
    """Multiplicative inflation of the anomalies, then an optional random rotation (DAPPER's `post_process`)."""
    mean = jnp.mean(ensemble, axis=0)
    anomalies = inflation * (ensemble - mean)
    if rotate:
        anomalies = random_rotation(key, ensemble.shape[0]) @ anomalies
    return mean + anomalies


class _EnsembleMethod(AbstractCycledMethod):
    """Abstract: every ensemble method starts from N draws of the initial distribution."""

    n_members: eqx.AbstractVar[int]

    def init(self, setup, truth, key):
        return initial_ensemble(setup, key, self.n_members)


def _check_ensemble(n_members, inflation):
    check_range("n_members", n_members, 2, 10_000, integer=True)
    check_range("inflation", inflation, 0.5, 3.0)


class EnKFSqrt(_EnsembleMethod):
    """The square-root EnKF (ETKF), DAPPER's `EnKF('Sqrt', N, infl, rot)`.

    Fields:
        n_members: ensemble size N (static).
        inflation: multiplicative inflation of the analysis anomalies (traced).
        rotate: a random mean-preserving rotation of the anomalies after each analysis (static).
    """

    n_members: int = eqx.field(static=True)
    inflation: Float[Array, ""]
    rotate: bool = eqx.field(static=True)

    def __init__(self, n_members: int = 10, inflation: float = 1.02, rotate: bool = True):
        _check_ensemble(n_members, inflation)
        self.n_members, self.inflation, self.rotate = int(n_members), jnp.asarray(inflation, jnp.float32), bool(rotate)

    def cycle(self, state, y, index, setup, truth, key):
        ensemble = forecast(setup.forward, state, setup.obs_every)
        fm, fs = ensemble_stats(ensemble)
        ensemble = post_process(sqrt_analysis(ensemble, y, setup), self.inflation, self.rotate, key)
        return ensemble, (fm, fs, *ensemble_stats(ensemble))


class EnKFPerturbed(_EnsembleMethod):
    """The EnKF with perturbed observations, DAPPER's `EnKF('PertObs', N, infl)`.

    Fields: as `EnKFSqrt` (rotation off by default, as DAPPER's tuning).
    """

    n_members: int = eqx.field(static=True)
    inflation: Float[Array, ""]
    rotate: bool = eqx.field(static=True)

    def __init__(self, n_members: int = 10, inflation: float = 1.04, rotate: bool = False):
        _check_ensemble(n_members, inflation)
        self.n_members, self.inflation, self.rotate = int(n_members), jnp.asarray(inflation, jnp.float32), bool(rotate)

    def cycle(self, state, y, index, setup, truth, key):
        key_obs, key_rot = jax.random.split(key)
        ensemble = forecast(setup.forward, state, setup.obs_every)
        fm, fs = ensemble_stats(ensemble)
        ensemble = perturbed_obs_analysis(ensemble, y, setup, key_obs)
        ensemble = post_process(ensemble, self.inflation, self.rotate, key_rot)
        return ensemble, (fm, fs, *ensemble_stats(ensemble))


# The LETKF (Hunt et al. 2007), as DAPPER's `LETKF`. The state is cut into batches of neighbouring
# variables (DAPPER's sakov2008 localiser: batches of 2). Each batch gets its own ETKF update from
# every observation weighted by the square root of its Gaspari-Cohn taper (`core/methods/localisation.py`).
# The batches are vmapped: one program whatever the radius. With an infinite radius every taper is
# 1 and each batch's update is the global square-root EnKF's, column for column (tests/test_letkf.py).
# Distances are those of Lorenz-96's circle of unit-spaced variables.


def local_sqrt_analysis(
    ensemble: Float[Array, "N n"], y: Float[Array, " n"], setup: CycleSetup, radius, batch_size: int
) -> Float[Array, "N n"]:
    """The LETKF analysis: one symmetric-square-root ETKF update per batch, with tapered observations."""
    n_members, n_variables = ensemble.shape
    mean, anomalies, yw, dy = _whitened_obs_anomalies(ensemble, y, setup)
    root_tapers = jnp.sqrt(batch_tapers(n_variables, batch_size, radius))
    n_batches = n_variables // batch_size
    batch_anomalies = anomalies.reshape(n_members, n_batches, batch_size).transpose(1, 0, 2)

    def update(root_taper, local_anomalies):
        weights, transform = _etkf_weights(yw * root_taper, dy * root_taper)
        return weights @ local_anomalies + transform @ local_anomalies

    increments = jax.vmap(update)(root_tapers, batch_anomalies)  # (n_batches, N, batch_size)
    return mean + increments.transpose(1, 0, 2).reshape(n_members, n_variables)


class LETKF(_EnsembleMethod):
    """DAPPER's `LETKF(N, infl, rot, loc_rad)` with its default (Gaspari-Cohn) taper.

    Fields:
        n_members: ensemble size N (static).
        inflation: multiplicative inflation of the analysis anomalies (traced).
        rotate: a random mean-preserving rotation after each analysis (static).
        localisation_radius: DAPPER's `loc_rad`, in grid spacings (traced; `inf`: no localisation).
        batch_size: neighbouring variables analysed together (static). None: DAPPER's sakov2008 choice,
            2, where it divides the state (Lorenz-96), else 1 (Lorenz-63's 3 variables).
    """

    n_members: int = eqx.field(static=True)
    inflation: Float[Array, ""]
    rotate: bool = eqx.field(static=True)
    localisation_radius: Float[Array, ""]
    batch_size: int | None = eqx.field(static=True)

    def __init__(
        self,
        n_members: int = 7,
        inflation: float = 1.04,
        rotate: bool = True,
        localisation_radius: float = 4.0,
        batch_size: int | None = None,
    ):
        _check_ensemble(n_members, inflation)
        if localisation_radius != float("inf"):
            check_range("localisation_radius", localisation_radius, 0.1, 1000.0)
        if batch_size is not None:
            check_range("batch_size", batch_size, 1, 1000, integer=True)
        self.n_members, self.inflation, self.rotate = int(n_members), jnp.asarray(inflation, jnp.float32), bool(rotate)
        self.localisation_radius = jnp.asarray(localisation_radius, jnp.float32)
        self.batch_size = None if batch_size is None else int(batch_size)

    def cycle(self, state, y, index, setup, truth, key):
        batch_size = self.batch_size or (2 if setup.n_variables % 2 == 0 else 1)
        if setup.n_variables % batch_size:
            raise ValueError(f"batch_size must divide the {setup.n_variables} variables; got {batch_size}")
        ensemble = forecast(setup.forward, state, setup.obs_every)
        fm, fs = ensemble_stats(ensemble)
        analysis = local_sqrt_analysis(ensemble, y, setup, self.localisation_radius, batch_size)
        ensemble = post_process(analysis, self.inflation, self.rotate, key)
        return ensemble, (fm, fs, *ensemble_stats(ensemble))


class IEnKS(_EnsembleMethod):
    """The iterative ensemble Kalman smoother, square-root flavour (Bocquet & Sakov), DAPPER's `iEnKS('Sqrt')`.

    The state is the ensemble at the start of a window of `lag` cycles. Each cycle minimises the
    window's cost in ensemble space, x = mean + (w + T) X, by `n_iterations` Gauss-Newton steps
    through the nonlinear model; the newest observation is assimilated (older ones are in the prior
    already), the smoothed ensemble is inflated and rotated, and the window slides by one cycle.
    `lag = 1` is the iterative EnKF of Sakov et al. (2012).

    Fields:
        n_members, inflation, rotate: as `EnKFSqrt`.
        lag: window length in cycles (traced).
        n_iterations: Gauss-Newton iterations per window (static).
    """

    n_members: int = eqx.field(static=True)
    inflation: Float[Array, ""]
    rotate: bool = eqx.field(static=True)
    lag: Array
    n_iterations: int = eqx.field(static=True)

    def __init__(
        self,
        n_members: int = 10,
        inflation: float = 1.02,
        rotate: bool = True,
        lag: int = 1,
        n_iterations: int = N_ITERATIONS,
    ):
        _check_ensemble(n_members, inflation)
        check_range("lag", lag, 1, 100, integer=True)
        check_range("n_iterations", n_iterations, 1, 100, integer=True)
        self.n_members, self.inflation, self.rotate = int(n_members), jnp.asarray(inflation, jnp.float32), bool(rotate)
        self.lag = jnp.asarray(lag, jnp.int32)
        self.n_iterations = int(n_iterations)

    def cycle(self, state, y, index, setup, truth, key):
        n = self.n_members
        n1 = n - 1
        x0 = jnp.mean(state, axis=0)
        x0_anomalies = state - x0
        window_steps = jnp.minimum(index + 1, self.lag) * setup.obs_every

        def iteration(_, carry):
            w, transform, transform_inv, _, _, _ = carry
            ensemble = forecast(setup.forward, x0 + (w[None] + transform) @ x0_anomalies, window_steps)
            _, _, yw, dy = _whitened_obs_anomalies(ensemble, y, setup)
            y0 = transform_inv @ yw  # "de-conditioned" observation anomalies
            post_w, half, minus_half = _psd_powers(y0 @ y0.T, n1, (1.0, 0.5, -0.5))
            dw = post_w @ (y0 @ dy - n1 * w)
            new_transform, new_inv = half * jnp.sqrt(n1), minus_half / jnp.sqrt(n1)
            return w + dw, new_transform, new_inv, dw, transform, ensemble

        eye = jnp.eye(n)
        start = (jnp.zeros(n), eye, eye, jnp.zeros(n), eye, state)
        first = iteration(0, start)
        forecast_ensemble = first[5]
        w, transform, _, dw, transform_old, ensemble = jax.lax.fori_loop(1, self.n_iterations, iteration, first)
        # DAPPER's analysis at the observation time: the last forecast plus a linearised increment.
        forecast_anomalies = forecast_ensemble - jnp.mean(forecast_ensemble, axis=0)
        analysis = ensemble + (dw[None] + transform - transform_old) @ forecast_anomalies
        smoothed = x0 + (w[None] + transform) @ x0_anomalies
        smoothed = post_process(smoothed, self.inflation, self.rotate, key)
        shift = jnp.where(index + 1 >= self.lag, setup.obs_every, 0)
        new_state = forecast(setup.forward, smoothed, shift)
        return new_state, (*ensemble_stats(forecast_ensemble), *ensemble_stats(analysis))


# DAPPER's tuning on sakov2012 (mods/Lorenz63/sakov2012.py): inflation, and rotation per method;
# the LETKF's as the square-root EnKF's, with sakov2008's radius (mods/Lorenz96/sakov2008.py: loc_rad 4;
# `--setup sakov2008` brings its N 7 and infl 1.04, core/setups/cycled.py).
register_method(
    "enkf_perturbed",
    lambda ensemble_size, inflation: EnKFPerturbed(ensemble_size, inflation, rotate=False),
    label="EnKF (perturbed obs)",
    colour="#ff7f0e",
    family="ensemble",
    kind="cycled",
    defaults={"ensemble_size": 10, "inflation": 1.04},
)
register_method(
    "enkf_sqrt",
    lambda ensemble_size, inflation: EnKFSqrt(ensemble_size, inflation, rotate=True),
    label="EnKF (square root)",
    colour="#2ca02c",
    family="ensemble",
    kind="cycled",
    defaults={"ensemble_size": 10, "inflation": 1.02},
)
register_method(
    "letkf",
    lambda ensemble_size, inflation, localisation_radius: LETKF(ensemble_size, inflation, True, localisation_radius),
    label="LETKF",
    colour="#17becf",
    family="ensemble",
    kind="cycled",
    defaults={"ensemble_size": 10, "inflation": 1.02, "localisation_radius": 4.0},
)
register_method(
    "ienks",
    lambda ensemble_size, inflation, lag: IEnKS(ensemble_size, inflation, rotate=True, lag=lag),
    label="iEnKS",
    colour="#9467bd",
    family="ensemble",
    kind="cycled",
    defaults={"ensemble_size": 10, "inflation": 1.02, "lag": 1},
)
