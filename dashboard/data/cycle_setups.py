"""The Cycle tab's set-ups: its settings, and how they become `core`'s set-up and methods, per system.

The tab runs what `python -m core cycle --system` runs (core/setups/cycled.py): Lorenz-63 on sakov2012,
Lorenz-96 on sakov2008, each with its burn-in and its tuning; model error (the methods' rho or F, the
truth's Q) is data on the set-up, so a new mismatch reuses the compiled programs. No Panel, no plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax

import core
from core._validate import check_choice
from core.setups.cycled import CYCLED_SETUPS, DEFAULT_SETUP

SYSTEMS = ("lorenz63", "lorenz96")


def spec_of(system: str):
    """The system's cycled set-up (`CycledSetupSpec`: sakov2012 or sakov2008), as the CLI picks it."""
    check_choice("system", system, SYSTEMS)
    return CYCLED_SETUPS[DEFAULT_SETUP[system]]


def offered_methods(system: str) -> tuple[str, ...]:
    """The cycled methods the tab offers for `system`: every registered one on Lorenz-63; on Lorenz-96
    all but the learned ones (the shipped cycled FourDVarNet is trained on Lorenz-63)."""
    entries = core.registered_methods("cycled")
    if system == "lorenz63":
        return tuple(entries)
    return tuple(name for name, entry in entries.items() if not entry.learned)


@dataclass(frozen=True)
class CycleSettings:
    """Everything a cycled run depends on; hashable, plain Python values."""

    obs_every: int = 25
    obs_noise: float = 2.0**0.5
    ensemble_size: int = 10
    inflation: float = 1.02
    lag: int = 1
    n_cycles: int = 1000
    seed: int = 0
    system: str = "lorenz63"
    localisation_radius: float = 4.0  # the LETKF's (DAPPER's loc_rad)
    model_value: float | None = None  # the methods' rho (Lorenz-63) or F (Lorenz-96); None: the truth's
    model_noise: float = 0.0  # the truth's model noise Q, a variance per unit time
    model_error_q: float = 0.1  # weak 4DVar's q (the registry's default)


def burn_in_cycles(obs_every: int, n_cycles: int, system: str = "lorenz63") -> int:
    """DAPPER's burn-in (sakov2012: 16 time units, sakov2008: 20), at most half the run (as the cycle CLI)."""
    spec = spec_of(system)
    return min(spec.burn_in(obs_every, spec.dt), n_cycles // 2)


def truth_value(system: str) -> float:
    """The truth's value of the parameter model error changes: rho 28 (Lorenz-63) or F 8 (Lorenz-96)."""
    spec = spec_of(system)
    return float(spec.truth_value(**spec.parameters))


def setup_of(settings: CycleSettings) -> core.CycleSetup:
    """The system's set-up for `settings` (each value checked again in core), with its model error."""
    spec = spec_of(settings.system)
    value = settings.model_value
    # The truth's own value is no mismatch: the methods then run the truth's model (as the CLI does).
    mismatch = None if value is None or float(value) == truth_value(settings.system) else float(value)
    if settings.system == "lorenz63" and mismatch is None and settings.model_noise == 0.0:
        # Exactly today's Lorenz-63 set-up (the same arguments, so the same numbers).
        return core.sakov2012(obs_every=settings.obs_every, obs_noise=settings.obs_noise, n_cycles=settings.n_cycles)
    return spec.build(
        obs_every=settings.obs_every,
        obs_noise=settings.obs_noise,
        n_cycles=settings.n_cycles,
        model_noise=settings.model_noise,
        **{spec.model_parameter: mismatch},
    )


def keys_of(seed: int):
    """(truth key, methods' key), as `python -m core cycle --key seed`."""
    return jax.random.PRNGKey(seed), jax.random.PRNGKey(seed + 1)


def method_parameters(name: str, settings: CycleSettings) -> dict:
    """The overrides `name` runs with: the set-up's tuning (sakov2008's B scales; none on sakov2012), then
    the sliders' ensemble size, inflation, lag, localisation radius and weak 4DVar's q."""
    tuning = dict(spec_of(settings.system).tuning.get(name, {}))
    if settings.system == "lorenz96" and name == "weak_4dvar":
        # Weak 4DVar takes strong 4DVar's B on sakov2008, so that the two differ by the model constraint only.
        tuning = {"b_scale": spec_of("lorenz96").tuning["strong_4dvar"]["b_scale"]}
    sliders = dict(ensemble_size=settings.ensemble_size, inflation=settings.inflation, lag=settings.lag)
    if settings.system == "lorenz96":  # (on Lorenz-63 both stay the registry's, as before)
        sliders.update(localisation_radius=settings.localisation_radius)
    sliders.update(model_error_q=settings.model_error_q)
    return {**{k: v for k, v in tuning.items() if k == "b_scale"}, **sliders}


def build_method(name: str, settings: CycleSettings) -> core.AbstractCycledMethod:
    """The cycled method, with the sliders' values (`method_parameters`; each checked again in core)."""
    return core.build_cycled_method(name, **method_parameters(name, settings))
