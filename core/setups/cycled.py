"""The cycled set-ups by name, each with its system, its defaults and its tuning: what `--setup` fills in.

A set-up is DAPPER's unit (`dapper/mods/<system>/<paper>.py`): a system, an observation plan, an
initial distribution, a burn-in, and the tuning under which its documented scores hold. Any flag the
user gives overrides the set-up's value; a method without tuning here runs with the registry's
defaults (core/da/registry.py), which are sakov2012's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.setups import sakov2008, sakov2012
from core.systems.lorenz import RHO
from core.systems.lorenz96 import FORCING, N_VARIABLES

SYSTEMS = ("lorenz63", "lorenz96")


@dataclass(frozen=True)
class CycledSetupSpec:
    """A cycled set-up.

    Fields:
        name: as `--setup` spells it.
        system: one of `SYSTEMS`.
        build: `(obs_every, obs_noise, observed, n_cycles, dt, model_noise, **system parameters,
            **{model_parameter: value}) -> CycleSetup`.
        burn_in: `(obs_every, dt) -> leading cycles DAPPER leaves out of its scores`.
        obs_every, obs_noise, dt: the set-up's values.
        n_variables: the state's size.
        parameters: the system's parameters the build takes, with their values (Lorenz-96's forcing).
        model_parameter: the build's argument for the methods' own value of the system parameter that
            model error changes (`model_rho`, `model_forcing`), as the CLI's flag names it.
        truth_value: `(system parameters) -> the truth's value of that parameter` (rho 28, or F).
        tuning: per method, the registry parameters under which `expected_rmse_a` holds.
        expected_rmse_a: DAPPER's documented rmse.a per method.
        expected_obs_every: where a method's documented score holds at another spacing than the set-up's.
    """

    name: str
    system: str
    build: Callable
    burn_in: Callable[[int, float], int]
    obs_every: int
    obs_noise: float
    dt: float
    n_variables: int
    parameters: Mapping[str, float]
    tuning: Mapping[str, Mapping[str, float]]
    expected_rmse_a: Mapping[str, float]
    model_parameter: str
    truth_value: Callable[..., float]
    expected_obs_every: Mapping[str, int] = field(default_factory=dict)

    def documented_obs_every(self, method: str) -> int:
        """The spacing at which `method`'s documented score holds."""
        return self.expected_obs_every.get(method, self.obs_every)


def _sakov2008_tuning() -> dict[str, dict[str, float]]:
    """sakov2008's suggested tuning in the registry's names (ensemble_size, not n_members); the
    rotation is the registry's per method, and the observation spacing is the whole run's."""
    renamed = {"n_members": "ensemble_size"}
    return {
        method: {renamed.get(k, k): v for k, v in settings.items() if k not in ("rotate", "obs_every")}
        for method, (_, settings) in sakov2008.EXPECTED_RMSE_A.items()
    }


CYCLED_SETUPS = {
    "sakov2012": CycledSetupSpec(
        name="sakov2012",
        system="lorenz63",
        build=sakov2012.sakov2012,
        burn_in=sakov2012.default_burn_in,
        obs_every=25,
        obs_noise=sakov2012.SAKOV2012_X0_STD,
        dt=sakov2012.DT,
        n_variables=3,
        parameters={},
        tuning=sakov2012.TUNING,
        expected_rmse_a=sakov2012.EXPECTED_RMSE_A,
        model_parameter="model_rho",
        truth_value=lambda: RHO,
    ),
    "sakov2008": CycledSetupSpec(
        name="sakov2008",
        system="lorenz96",
        build=sakov2008.sakov2008,
        burn_in=sakov2008.burn_in,
        obs_every=1,
        obs_noise=1.0,
        dt=sakov2008.DT,
        n_variables=N_VARIABLES,
        parameters={"forcing": FORCING},
        tuning=_sakov2008_tuning(),
        expected_rmse_a={m: rmse for m, (rmse, _) in sakov2008.EXPECTED_RMSE_A.items()},
        model_parameter="model_forcing",
        truth_value=lambda forcing: forcing,
        expected_obs_every={m: s["obs_every"] for m, (_, s) in sakov2008.EXPECTED_RMSE_A.items() if "obs_every" in s},
    ),
}
DEFAULT_SETUP = {"lorenz63": "sakov2012", "lorenz96": "sakov2008"}


def observed_every(n_variables: int, spacing: int) -> tuple[int, ...]:
    """Every `spacing`-th variable, from the first: (0, k, 2k, ...)."""
    return tuple(range(0, n_variables, spacing))
