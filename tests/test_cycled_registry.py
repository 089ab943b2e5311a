"""The one registry, cycled side: a new cycled method written here (one class and one registration,
no other file touched) runs through `python -m core cycle` with its parameters in the JSON, and is
offered and run by the Cycle tab's state; the registry's tuned values reach the methods it builds."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import core
from core.da.cycle import forecast


class DirectInsertion(core.AbstractCycledMethod):
    """A toy method: forecast, then replace each observed component by its observation, nudged by
    `weight` (1: the observation itself). With every component observed and weight 1, its analysis
    is the observation, so its rmse_a is the observation noise's RMS: a fact computed apart below."""

    weight: jax.Array

    def __init__(self, weight: float = 1.0):
        self.weight = jnp.asarray(weight, jnp.float32)

    def init(self, setup, truth, key):
        return setup.x0_mean

    def cycle(self, state, y, index, setup, truth, key):
        xf = forecast(setup.forward, state, setup.obs_every)
        xa = jnp.where(setup.observed > 0, xf + self.weight * (y - xf), xf)
        spread = jnp.full_like(xa, jnp.nan)
        return xa, (xf, spread, xa, spread)


@pytest.fixture
def toy_cycled():
    core.register_method(
        "direct_insertion",
        lambda inflation: DirectInsertion(2.0 - inflation),  # the inflation flag reused as a toy knob
        label="direct insertion",
        colour="#123456",
        family="other",
        kind="cycled",
        defaults={"inflation": 1.0},
    )
    yield "direct_insertion"
    core.unregister_method("direct_insertion", kind="cycled")


def test_the_registry_builds_each_cycled_method_with_its_tuning():
    entries = core.registered_methods("cycled")
    assert list(entries)[:8] == [
        "oi",
        "var3d",
        "strong_4dvar",
        "weak_4dvar",
        "enkf_perturbed",
        "enkf_sqrt",
        "letkf",
        "ienks",
    ]
    # DAPPER's sakov2012 tuning (mods/Lorenz63/sakov2012.py) reaches the built methods.
    assert float(core.build_cycled_method("enkf_sqrt").inflation) == pytest.approx(1.02)
    assert float(core.build_cycled_method("enkf_perturbed").inflation) == pytest.approx(1.04)
    assert core.build_cycled_method("enkf_sqrt").rotate and not core.build_cycled_method("enkf_perturbed").rotate
    # An override replaces the tuned value; a parameter the method does not take is ignored.
    method = core.build_cycled_method("ienks", ensemble_size=20, inflation=1.1, b_scale=5.0)
    assert method.n_members == 20 and float(method.inflation) == pytest.approx(1.1) and int(method.lag) == 1
    assert core.cycled_parameters("var3d", inflation=2.0) == {"b_scale": 0.1}
    # Window and cycled twins share a name; the kind tells them apart, and each keeps one colour.
    assert entries["strong_4dvar"].colour == core.registered_methods()["strong_4dvar"].colour
    assert entries["weak_4dvar"].colour == core.registered_methods()["weak_4dvar"].colour
    with pytest.raises(ValueError, match="method"):
        core.build_cycled_method("free_run")


def test_registration_refuses_clashes_within_a_kind_and_unknown_parameters():
    with pytest.raises(ValueError, match="already registered"):
        core.register_method("var3d", lambda b_scale: None, label="again", kind="cycled", defaults={"b_scale": 1})
    with pytest.raises(ValueError, match="parameters"):
        core.register_method("bad", lambda spread: None, label="bad", kind="cycled", defaults={"spread": 1})
    with pytest.raises(ValueError, match="kind"):
        core.register_method("bad", lambda: None, label="bad", kind="hourly")


def test_a_new_cycled_method_runs_from_the_command_line(toy_cycled, capsys):
    from core.cli.main import main

    code = main(["cycle", "--method", toy_cycled, "--method", "oi", "--n-cycles", "80", "--burn-in", "10", "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    toy = payload["methods"][toy_cycled]
    assert toy["inflation"] == 1.0  # its tuned parameter, reported as every method's are
    # The analysis is the observation: its error is the observation noise, computed here apart.
    setup = core.sakov2012(n_cycles=80)
    truth = core.simulate(setup, jax.random.PRNGKey(0))
    noise = np.asarray(truth.obs - truth.truth)[10:]
    expected = np.mean(np.sqrt(np.mean(noise**2, axis=1)))
    assert toy["rmse_a"] == pytest.approx(expected, rel=1e-4)
    assert payload["methods"]["oi"]["rmse_a"] < toy["rmse_a"]  # OI weighs the noise; insertion does not


def test_a_new_cycled_method_is_offered_and_run_by_the_cycle_tab(toy_cycled):
    from dashboard.state.cycle import CycleState

    calls = []
    state = CycleState(run=lambda methods, settings: calls.append(methods) or (None, {}), compute=False)
    assert state.param.methods.objects["direct insertion"] == toy_cycled
    state.methods = ["var3d", toy_cycled]
    assert state.error == "" and calls[-1] == ["var3d", toy_cycled]
