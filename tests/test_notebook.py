"""The reference notebook (../shared/seed/) runs on our core with only its two import lines changed.

Each statement below is the notebook's, in order; the plotting cells keep their data accesses
(matplotlib itself is not a dependency of ours).
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import core as vdx
from core import (
    Lorenz63Forward,
    assemble_full_trajectory,
    assim_batch,
    generate_problem,
    run_method,
)


@pytest.mark.slow
@pytest.mark.ci  # ~15 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_the_notebook_runs_unchanged_on_our_core():
    # 1. Shared problem
    prob = generate_problem(key=jax.random.PRNGKey(42))
    batch = assim_batch(prob)
    fwd = Lorenz63Forward(dt=prob.dt)
    t_axis = jnp.arange(prob.T_total_plus_1) * prob.dt

    # 2. Build FourDVarNet
    key = jax.random.PRNGKey(0)
    fvn = vdx.FourDVarNet1D(
        state_dim=3,
        n_time=prob.T_assim_plus_1,
        latent_dim=8,
        hidden_dim=16,
        n_solver_steps=5,
        key=key,
    )

    # 3. Simulation-based training
    def make_pair(k):
        p = generate_problem(key=k)
        return p.obs, p.mask, p.truth[: prob.T_assim_plus_1]

    train_keys = jax.random.split(jax.random.PRNGKey(1), 32)
    obs_train, mask_train, truth_train = jax.vmap(make_pair)(train_keys)
    train_batch = vdx.Batch1D(input=obs_train, mask=mask_train, target=truth_train)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(fvn, eqx.is_array))
    t0 = time.perf_counter()
    losses = []
    for _ in range(200):
        fvn, opt_state, loss = vdx.train_step(fvn, train_batch, optimizer, opt_state)
        losses.append(float(loss))
    train_time = time.perf_counter() - t0

    # 4. Analysis + free forecast
    def fvn_run():
        analysis = fvn(batch)[0]  # (T_assim+1, 3)
        return assemble_full_trajectory(analysis, prob, fwd)

    result = run_method("fourdvarnet", fvn_run, prob, train_time_s=train_time)

    # 5./6. What the plots read.
    t_obs = t_axis[: prob.T_assim_plus_1][prob.mask[:, 0] > 0.5]
    obs_v = prob.obs[prob.mask[:, 0] > 0.5, 0]
    assert t_obs.shape == obs_v.shape == (11,)
    assert result.mean.shape == (1001, 3) and result.rmse_trace.shape == (1001,)
    assert prob.T_assim * prob.dt == 0.5

    # Facts, not shapes: training helped, the window is the network's, the forecast is M's.
    assert losses[-1] < 0.5 * losses[0]
    assert result.train_time_s == train_time
    np.testing.assert_allclose(result.mean[:51], fvn(batch)[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        result.mean[51:], fwd.rollout(jnp.asarray(result.mean[50]), 950)[1:], rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        result.rmse_assim, np.sqrt(np.mean((result.mean[:51] - np.asarray(prob.truth[:51])) ** 2)), rtol=1e-5
    )
