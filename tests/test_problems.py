"""Problems: masks, noise, presets, vmap, climatology, bad inputs, no retrace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import count_compiles

from core import CLIMATOLOGY_MEAN, CLIMATOLOGY_STD, Lorenz63Forward, fixed_points, generate_problem, generate_problems


@pytest.mark.parametrize("obs_every", [1, 3, 5, 7, 50])
def test_mask_marks_every_nth_window_index(obs_every):
    problem = generate_problem(jax.random.PRNGKey(0), obs_every=obs_every)
    expected_times = set(range(0, 51, obs_every))
    observed_times = {int(t) for t in np.nonzero(np.asarray(problem.mask[:, 0]))[0]}
    assert observed_times == expected_times
    assert problem.mask.shape == problem.obs.shape == (51, 3)
    # Unobserved entries are exactly 0 in obs, as in the reference.
    assert np.all(np.asarray(problem.obs)[np.asarray(problem.mask) == 0] == 0)


def test_observed_components_and_noise_level():
    problem = generate_problem(jax.random.PRNGKey(1), observed=(0, 2), obs_every=1)
    np.testing.assert_array_equal(np.asarray(problem.mask).sum(axis=0), [51, 0, 51])
    problems = generate_problems(jax.random.PRNGKey(2), 64, obs_every=1, obs_noise=0.5)
    errors = np.asarray(problems.obs - problems.truth_window)
    assert abs(errors.std() - 0.5) < 0.01  # 9792 draws: the std's own spread is ~0.004
    assert abs(errors.mean()) < 0.02


def test_truth_is_a_model_trajectory():
    problem = generate_problem(jax.random.PRNGKey(3))
    np.testing.assert_allclose(Lorenz63Forward(dt=0.01).step(problem.truth[:-1]), problem.truth[1:], atol=1e-4)
    assert problem.truth.shape == (problem.T_total_plus_1, 3) == (1001, 3)


def test_seed_preset_is_the_reference_problem():
    problem = generate_problem(jax.random.PRNGKey(42), preset="seed")
    # Started 0.01 from C+, the truth never leaves its neighbourhood (the reference's flaw 1).
    assert np.abs(np.asarray(problem.truth) - np.asarray(fixed_points()[1])).max() < 0.3
    np.testing.assert_array_equal(problem.background_mean, [0, 0, 0])
    np.testing.assert_array_equal(problem.background_std, [5, 5, 5])
    assert int(np.asarray(problem.mask).sum()) == 33  # 11 times x 3 components


def test_attractor_problems_visit_both_wings_and_use_climatology():
    problems = generate_problems(jax.random.PRNGKey(4), 16)
    x = np.asarray(problems.truth[..., 0])
    assert (x > 5).any() and (x < -5).any()
    np.testing.assert_allclose(problems.background_mean[0], CLIMATOLOGY_MEAN)


def test_climatology_constants_match_a_long_run():
    forward = Lorenz63Forward(dt=0.01)
    starts = jax.random.normal(jax.random.PRNGKey(5), (64, 3)) * 5 + jnp.array([0.0, 0.0, 25.0])
    runs = jax.vmap(lambda s: forward.rollout(forward.advance(s, 2000), 10_000))(starts)
    np.testing.assert_allclose(runs.reshape(-1, 3).mean(axis=0), CLIMATOLOGY_MEAN, atol=0.4)
    np.testing.assert_allclose(runs.reshape(-1, 3).std(axis=0), CLIMATOLOGY_STD, rtol=0.03)


def test_vmap_over_keys_gives_distinct_problems_equal_to_single_calls():
    key = jax.random.PRNGKey(6)
    every = [2, 5, 5, 10]
    keys = jax.random.split(key, 4)
    # The seed preset stays near C+, so batched and single round-off stay small: compare everything.
    batch = generate_problems(key, 4, preset="seed", obs_every=jnp.array(every))
    for i in range(4):
        single = generate_problem(keys[i], preset="seed", obs_every=every[i])
        np.testing.assert_allclose(batch.truth[i], single.truth, atol=1e-3)
        np.testing.assert_allclose(batch.obs[i], single.obs, atol=1e-3)
        np.testing.assert_array_equal(batch.mask[i], single.mask)
    # On the attractor, chaos amplifies last-bit differences over the spin-up (e^(0.9 x 15) ~ 1e6),
    # so compare what does not go through the dynamics: the masks and the noise draws.
    batch = generate_problems(key, 4, obs_every=jnp.array(every))
    for i in range(4):
        single = generate_problem(keys[i], obs_every=every[i])
        np.testing.assert_array_equal(batch.mask[i], single.mask)
        noise_batch = batch.obs[i] - batch.mask[i] * batch.truth_window[i]
        noise_single = single.obs - single.mask * single.truth_window
        np.testing.assert_allclose(noise_batch, noise_single, atol=1e-3)
    assert not np.allclose(batch.truth[1], batch.truth[2])
    # A user's own vmap over the public function works too.
    mine = jax.vmap(lambda k: generate_problem(k, preset="seed"))(keys)
    assert mine.truth.shape == (4, 1001, 3)


def test_new_density_noise_or_key_does_not_retrace():
    generate_problem(jax.random.PRNGKey(0), obs_every=4, obs_noise=0.3)
    keys = [jax.random.PRNGKey(seed) for seed in (1, 2, 3)]
    with count_compiles() as compiles:
        problems = [
            generate_problem(key, obs_every=every, obs_noise=noise)
            for key, every, noise in zip(keys, (2, 9, 25), (0.1, 1.0, 0.0), strict=True)
        ]
    assert compiles.n == 0
    assert [int(p.mask[:, 0].sum()) for p in problems] == [26, 6, 3]  # the new densities were applied


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"obs_every": 0}, "obs_every"),
        ({"obs_every": 51}, "obs_every"),
        ({"obs_every": 2.5}, "obs_every"),
        ({"obs_noise": -1.0}, "obs_noise"),
        ({"preset": "butterfly"}, "preset"),
        ({"observed": ()}, "observed"),
        ({"observed": (3,)}, "observed"),
        ({"T_total": 10}, "T_total"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_problem(jax.random.PRNGKey(0), **kwargs)


def _old_lorenz63_problem(key, preset, obs_every, obs_noise, component_mask, T_assim=50, T_total=1000, dt=0.01):
    """The Lorenz-63 problem as the code before systems and model error wrote it, line for line."""
    from core.setups.problems import (
        ATTRACTOR_SPIN_UP_STEPS,
        SEED_BACKGROUND_STD,
        SEED_BURN_IN_STEPS,
    )

    @jax.jit
    def old(key):
        forward = Lorenz63Forward(dt=dt)
        key_truth, key_obs = jax.random.split(key)
        if preset == "seed":
            start = fixed_points()[1] + 0.01 * jax.random.normal(key_truth, (3,))
            start = forward.advance(start, SEED_BURN_IN_STEPS)
            background = jnp.zeros(3), jnp.full(3, SEED_BACKGROUND_STD)
        else:
            mean, std = jnp.array(CLIMATOLOGY_MEAN), jnp.array(CLIMATOLOGY_STD)
            start = forward.advance(mean + std * jax.random.normal(key_truth, (3,)), ATTRACTOR_SPIN_UP_STEPS)
            background = mean, std
        truth = forward.rollout(start, T_total)
        times = (jnp.arange(T_assim + 1) % obs_every) == 0
        mask = times[:, None].astype(jnp.float32) * component_mask[None, :]
        obs = mask * (truth[: T_assim + 1] + obs_noise * jax.random.normal(key_obs, (T_assim + 1, 3)))
        return truth, obs, mask, background

    return old(key)


@pytest.mark.parametrize("preset", ["attractor", "seed"])
def test_lorenz63_problems_without_mismatch_are_bit_identical_to_the_old_code(preset):
    key = jax.random.PRNGKey(11)
    problem = generate_problem(key, preset=preset, obs_every=4, obs_noise=0.7, observed=(0, 2))
    truth, obs, mask, (mean, std) = _old_lorenz63_problem(key, preset, 4, 0.7, jnp.array([1.0, 0.0, 1.0]))
    # Every number the tool showed before must stay: exactly equal, not close (on the attractor a last-bit
    # change grows ~1e6 over the run, so this also catches a changed draw or step order).
    np.testing.assert_array_equal(problem.truth, truth)
    np.testing.assert_array_equal(problem.obs, obs)
    np.testing.assert_array_equal(problem.mask, mask)
    np.testing.assert_array_equal(problem.background_mean, mean)
    np.testing.assert_array_equal(problem.background_std, std)
    # With no mismatch the methods' model is the truth's system.
    assert float(problem.forward.rho) == float(problem.truth_model.rho) == 28.0
    assert float(problem.model_noise) == 0.0
