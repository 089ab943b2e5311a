"""Lorenz-96 and its localisation against independent facts: a hand-written numpy tendency, the
energy budget, the leading Lyapunov exponent, the Gaspari-Cohn formula."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import core
from core.methods.localisation import gaspari_cohn, periodic_distances
from core.systems.lorenz import Lorenz63Forward
from core.systems.lorenz96 import Lorenz96Forward, lorenz96_vector_field


def _numpy_tendency(x, forcing):
    """Lorenz (1996), written index by index with explicit wrap-around."""
    n = len(x)
    return np.array([(x[(i + 1) % n] - x[(i - 2) % n]) * x[(i - 1) % n] - x[i] + forcing for i in range(n)])


def test_tendency_matches_a_hand_written_numpy_one():
    rng = np.random.default_rng(0)
    for n, forcing in ((40, 8.0), (12, 3.5), (5, -1.0)):
        x = rng.normal(2.0, 4.0, n)
        ours = np.asarray(lorenz96_vector_field(jnp.asarray(x, jnp.float32), forcing))
        np.testing.assert_allclose(ours, _numpy_tendency(x, forcing), rtol=1e-5, atol=1e-4)


def test_the_rest_state_x_equals_f_is_fixed():
    model = Lorenz96Forward(forcing=8.0)
    rest = jnp.full(40, 8.0)
    np.testing.assert_allclose(model.rollout(rest, 20)[-1], rest, atol=1e-5)


def test_advection_conserves_energy_so_de_dt_is_forcing_minus_damping():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(2.0, 4.0, (16, 40)), jnp.float32)
    forcing = 8.0
    de_dt = jnp.sum(x * lorenz96_vector_field(x, forcing), axis=-1)  # d/dt (1/2) |x|^2
    expected = forcing * jnp.sum(x, axis=-1) - jnp.sum(x**2, axis=-1)
    np.testing.assert_allclose(de_dt, expected, rtol=1e-4, atol=1e-2)


def test_a_perturbed_rest_state_grows_to_chaos_with_the_climatological_energy():
    """F = 8 is chaotic: a 1e-3 nudge off the (unstable) rest state grows to the attractor, whose
    mean and standard deviation per variable are ~2.3 and ~3.6 (Lorenz & Emanuel 1998)."""
    model = Lorenz96Forward()
    x0 = jnp.full(40, 8.0).at[19].add(1e-3)
    trajectory = np.asarray(model.rollout(x0, 6000))[2000:]  # drop 100 time units of growth
    assert 2.0 < trajectory.mean() < 2.7
    assert 3.3 < trajectory.std() < 3.9


def test_leading_lyapunov_exponent_is_near_1_7_per_time_unit_at_f_8():
    """Benettin's method: a tangent vector carried by the tangent-linear model (jvp), renormalised
    each step; published values for n = 40, F = 8 are 1.67-1.7 (DAPPER's Lorenz96 notes)."""
    model = Lorenz96Forward()
    x0 = model.advance(jnp.full(40, 8.0).at[0].add(0.01), 2000)
    n_steps = 4000  # 200 time units

    def body(carry, _):
        state, tangent = carry
        state, tangent = jax.jvp(model.step, (state,), (tangent,))
        growth = jnp.linalg.norm(tangent)
        return (state, tangent / growth), jnp.log(growth)

    tangent0 = jnp.ones(40) / jnp.sqrt(40.0)
    _, logs = jax.lax.scan(body, (x0, tangent0), None, length=n_steps)
    exponent = float(jnp.sum(logs[200:])) / ((n_steps - 200) * model.dt)
    assert 1.5 < exponent < 1.9


def test_a_new_forcing_reuses_the_compiled_rollout():
    """F is data: the methods' (wrong) F and a sweep over F trace the rollout once."""
    traces = []

    @jax.jit
    def rollout(model, x0):
        traces.append(1)  # runs only while tracing
        return model.rollout(x0, 10)

    x0 = jnp.linspace(-1.0, 1.0, 40)
    first = rollout(Lorenz96Forward(forcing=8.0), x0)
    second = rollout(Lorenz96Forward(forcing=7.0), x0)
    assert len(traces) == 1
    assert not np.allclose(first, second)


def test_both_systems_share_one_rk4_step():
    """The same classical RK4 for both: one step of Lorenz-96 by hand from its vector field."""
    model, x = Lorenz96Forward(dt=0.05, forcing=8.0), jnp.linspace(-3.0, 5.0, 40)
    f, h = model.vector_field, 0.05
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    np.testing.assert_allclose(model.step(x), x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), rtol=1e-6)
    assert isinstance(Lorenz63Forward(), type(model).__mro__[1])


def _gaspari_cohn_1999(z, c):
    """Gaspari & Cohn (1999) eqn 4.10 as printed, in numpy with numpy's polynomial evaluation."""
    z = np.abs(np.asarray(z, dtype=np.float64))
    out = np.zeros_like(z)
    inner, outer = z <= c, (z > c) & (z <= 2 * c)
    out[inner] = np.polyval([-1 / 4, 1 / 2, 5 / 8, -5 / 3, 0, 1], z[inner] / c)
    out[outer] = np.polyval([1 / 12, -1 / 2, 5 / 8, 5 / 3, -5, 4], z[outer] / c) - 2 / 3 * c / z[outer]
    return out


@pytest.mark.parametrize("radius", [1.0, 4.0, 7.5])
def test_localisation_weights_follow_the_gaspari_cohn_formula_with_dappers_radius(radius):
    distances = np.linspace(0.0, 10 * radius, 1001)
    ours = np.asarray(gaspari_cohn(jnp.asarray(distances, jnp.float32), radius))
    np.testing.assert_allclose(ours, _gaspari_cohn_1999(distances, 1.82 * radius), atol=2e-6)
    assert ours[0] == pytest.approx(1.0)
    assert np.all(ours[distances > 2 * 1.82 * radius * (1 + 1e-6)] == 0.0)  # (float32 distances)
    assert np.all(np.diff(ours) <= 2e-6)  # it only falls with distance (up to float32 rounding of ~10-sized terms)


def test_an_infinite_radius_keeps_every_weight_at_one():
    np.testing.assert_array_equal(gaspari_cohn(periodic_distances(40), jnp.inf), np.ones((40, 40)))


def test_periodic_distances_wrap_around_the_circle():
    d = np.asarray(periodic_distances(40))
    assert d[0, 39] == 1 and d[0, 20] == 20 and d[3, 37] == 6
    np.testing.assert_array_equal(d, d.T)


def test_the_cycle_command_runs_sakov2008_with_its_tuning_and_any_flag_overrides(capsys):
    """`--system lorenz96` fills sakov2008's plan and each method's documented tuning; flags win."""
    from core.cli.main import main

    argv = ["cycle", "--system", "lorenz96", "--method", "letkf", "--method", "oi", "--n-cycles", "60"]
    assert main([*argv, "--burn-in", "10", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    setup, letkf = payload["setup"], payload["methods"]["letkf"]
    assert (setup["name"], setup["system"], setup["obs_every"], setup["dt"], setup["forcing"]) == (
        "sakov2008",
        "lorenz96",
        1,
        0.05,
        8.0,
    )
    assert (letkf["ensemble_size"], letkf["inflation"], letkf["localisation_radius"]) == (7, 1.04, 4.0)
    assert letkf["documented_rmse_a"] == 0.22 and payload["methods"]["oi"]["documented_rmse_a"] == 0.95
    # With every variable observed at R = I, the LETKF's analysis beats the observations themselves.
    assert letkf["rmse_a"] < 0.6 < 1.0

    assert main([*argv, "--burn-in", "10", "--ensemble-size", "9", "--obs-spacing", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["methods"]["letkf"]["ensemble_size"] == 9 and payload["setup"]["obs_spacing"] == 2
    assert "documented_rmse_a" not in payload["methods"]["letkf"]  # not DAPPER's run any more


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--system", "lorenz63", "--forcing", "7"], "--forcing is Lorenz-96's F"),
        (["--system", "lorenz96", "--observed", "xy"], "--observed names Lorenz-63's x, y, z"),
        (["--system", "lorenz96", "--setup", "sakov2012"], "--setup sakov2012 is a lorenz63 set-up"),
        (["--system", "lorenz96", "--obs-spacing", "41"], "--obs-spacing must be between 1 and 40"),
        (["--system", "lorenz96", "--dt", "0.5"], "--dt"),
        (["--system", "lorenz96", "--localisation-radius", "0"], "--localisation-radius"),
    ],
)
def test_the_cycle_command_refuses_flags_foreign_to_the_system(argv, words, capsys):
    from core.cli.main import main

    assert main(["cycle", "--method", "oi", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


def test_the_letkf_runs_on_lorenz63_one_variable_a_batch():
    """On Lorenz-63's 3 variables the LETKF analyses one variable a batch (2 would not divide 3), and with
    an infinite radius it is the square-root EnKF, cycle for cycle (same keys, same rotations)."""
    setup = core.sakov2012(n_cycles=40)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    local = core.run_cycle(core.LETKF(10, 1.02, True, float("inf")), setup, truth, key)
    square_root = core.run_cycle(core.EnKFSqrt(10, 1.02, True), setup, truth, key)
    np.testing.assert_allclose(local.analysis_mean, square_root.analysis_mean, atol=2e-3)
