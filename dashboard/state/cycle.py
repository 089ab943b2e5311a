"""The Cycle tab's state: bounded, documented parameters of a cycled twin experiment.

No Panel here: the Cycle tab (`cycle_view.py`) builds its widgets from these parameters
(`Widget.from_param`), so labels, bounds and steps live here only. The bounds are checked again in
`core` (`sakov2012`, `build_cycled_method`): a crafted value out of range raises `ValueError` naming
the parameter and its range, and leaves the state as it was. The ensemble size and the number of
cycles are shapes (each new value compiles once per process), so they offer a few values only.

The system (Lorenz-63 on sakov2012, Lorenz-96 on sakov2008) is a setting too: choosing it sets that
set-up's documented defaults (`SYSTEM_DEFAULTS`: spacing, noise, ensemble size, inflation, the LETKF's
radius) and its method list (`offered_methods`), in one recompute. Model error (the methods' rho or F,
the truth's Q, weak 4DVar's q) is data in core: moving it never recompiles.
"""

from __future__ import annotations

import math

import param

from core.da.registry import CYCLED_METHOD_NAMES
from core.systems.lorenz import RHO
from core.systems.lorenz96 import FORCING
from dashboard.data.cycle_data import MAX_OBS_EVERY, CycleSettings, label, offered_methods, run_all
from dashboard.state.settings import RESULT, SettingsState, check_setting, model_noise_setting

# 7 and 24: sakov2008's documented LETKF and square-root EnKF sizes.
ENSEMBLE_SIZES = (5, 7, 10, 20, 24, 40)
CYCLE_COUNTS = (250, 1000, 2000)
DEFAULT_METHODS = ("var3d", "enkf_sqrt", "ienks")
# Lorenz-96's default methods: 3DVar and the LETKF (DAPPER's sakov2008 rmse_a 0.41 and 0.22) cycle
# 1000 times in well under a second; strong and weak 4DVar and the global EnKFs are a tick away.
DEFAULT_METHODS_96 = ("var3d", "letkf")
# The page's URL keeps the tab's system under its own query name (`system` may name the sidebar's).
CYCLE_URL_PARAMETERS = {"system": "cycle_system"}
SYSTEM_CHOICES = {"Lorenz-63 (sakov2012)": "lorenz63", "Lorenz-96 (sakov2008)": "lorenz96"}
# What choosing a system sets: its set-up's documented values (core/setups/sakov2012.py, sakov2008.py;
# the LETKF's N 7, inflation 1.04, loc_rad 4 on Lorenz-96). Lorenz-63's are the tab's defaults as before.
SYSTEM_DEFAULTS = {
    "lorenz63": dict(
        obs_every=25, obs_noise=math.sqrt(2.0), ensemble_size=10, inflation=1.02, localisation_radius=4.0,
        methods=list(DEFAULT_METHODS),
    ),
    "lorenz96": dict(
        obs_every=1, obs_noise=1.0, ensemble_size=7, inflation=1.04, localisation_radius=4.0,
        methods=list(DEFAULT_METHODS_96),
    ),
}  # fmt: skip


class CycleState(SettingsState):
    """One student's cycled experiment, and its result (recomputed on every change)."""

    system = param.Selector(
        default="lorenz63",
        objects=SYSTEM_CHOICES,
        label="System",
        doc="Lorenz-63 (3 variables, DAPPER's sakov2012) or Lorenz-96 (40 variables, DAPPER's sakov2008); "
        "choosing one sets its set-up's documented spacing, noise, ensemble and method list.",
    )
    methods = param.ListSelector(
        default=list(DEFAULT_METHODS),
        objects={label(name): name for name in CYCLED_METHOD_NAMES},
        label="Methods",
        doc="Which methods run through the cycle, side by side on the same truth and observations.",
    )
    obs_every = param.Integer(
        default=25,
        bounds=(1, MAX_OBS_EVERY),
        label="Observe every N steps",
        doc="Model steps (dt 0.01 on Lorenz-63, 0.05 on Lorenz-96) between observations: the forecast runs "
        "this long before each analysis.",
    )
    obs_noise = param.Number(
        default=math.sqrt(2.0),
        bounds=(0.1, 5.0),
        step=0.05,
        label="Observation noise (std)",
        doc="Standard deviation of the noise on each observed variable (sqrt 2 in sakov2012, 1 in sakov2008).",
    )
    ensemble_size = param.Selector(
        default=10,
        objects=list(ENSEMBLE_SIZES),
        label="Ensemble size N",
        doc="Members of the EnKFs and the iEnKS (a new size compiles once on this server: a few seconds).",
    )
    inflation = param.Number(
        default=1.02,
        bounds=(1.0, 1.2),
        step=0.01,
        label="Inflation",
        doc="The ensemble methods widen their spread by this factor after each analysis (1 = none).",
    )
    localisation_radius = param.Number(
        default=4.0,
        bounds=(0.5, 20.0),
        step=0.5,
        label="LETKF localisation radius",
        doc="DAPPER's loc_rad, in grid spacings: each variable's analysis uses the observations this close "
        "(Gaspari-Cohn taper). Lorenz-96 only: with 40 variables a small ensemble needs it.",
    )
    lag = param.Integer(
        default=1,
        bounds=(1, 5),
        label="Lag (cycles)",
        doc="Window of strong 4DVar and the iEnKS, in observation cycles (1 = the newest observation only).",
    )
    n_cycles = param.Selector(
        default=1000,
        objects=list(CYCLE_COUNTS),
        label="Cycles",
        doc="Number of analyses in the run (a new count compiles once on this server).",
    )
    seed = param.Integer(default=0, bounds=(0, 9999), label="Seed", doc="Which random truth and observation noise.")
    model_rho = param.Number(
        default=RHO,
        bounds=(20.0, 34.0),
        step=0.5,
        label=f"The methods' model: rho (the truth's: {RHO:g})",
        doc="Model error on Lorenz-63: every method forecasts with this rho while the truth runs with 28.",
    )
    model_forcing = param.Number(
        default=FORCING,
        bounds=(4.0, 12.0),
        step=0.25,
        label=f"The methods' model: F (the truth's: {FORCING:g})",
        doc="Model error on Lorenz-96: every method forecasts with this forcing while the truth runs with 8.",
    )
    model_noise = model_noise_setting()
    model_error_q = param.Number(
        default=0.1,
        bounds=(0.01, 10.0),
        step=0.01,
        label="Weak 4DVar's model error q",
        doc="The model-error variance per time unit weak-constraint 4DVar allows its model (small: strong 4DVar). "
        "On Lorenz-96 weak 4DVar is the slowest method here: seconds for 1000 cycles.",
    )

    truth = param.Parameter(
        default=None, precedence=RESULT, doc="The latest truth run (`cycle_data.TruthRun`, read only)."
    )
    runs = param.Dict(
        default={}, precedence=RESULT, doc="The latest method runs by name (`cycle_data.MethodRun`, read only)."
    )

    FAILED = "Something went wrong while cycling ({kind}); try other settings."

    def __init__(self, run=run_all, compute: bool = True, defer: bool = False, **params):
        """`compute`: run once now. `defer`: run nothing, not even on a change, until `activate()` (the
        page holds the state for its URL before the tab is opened; a link's system then costs no run)."""
        self._run = run
        self._deferred = defer
        self._switching = False
        self._given: set[str] = set()
        super().__init__()
        # Every registered cycled method, read per session: one registered after import is offered too.
        self.param.methods.objects = {label(name): name for name in CYCLED_METHOD_NAMES}
        self.check(params)
        system = params.get("system", self.system)
        self.param.methods.objects = self.method_choices(system)
        self.param.update(**{**self.system_defaults(system, given=params), **params})
        self.watch_settings()
        if compute:
            self.recompute()

    @staticmethod
    def method_choices(system: str) -> dict[str, str]:
        """label -> name of the methods offered for `system` (read from the registry each time)."""
        return {label(name): name for name in offered_methods(system)}

    @staticmethod
    def system_defaults(system: str, given=()) -> dict:
        """What choosing `system` sets, less the settings in `given` (a link or batch sets those itself)."""
        return {name: value for name, value in SYSTEM_DEFAULTS[system].items() if name not in given}

    def check(self, values: dict) -> None:
        """As `SettingsState.check`; methods are checked against the list of the system they will run on."""
        system = values.get("system", self.system)
        if "system" in values:
            check_setting(self.param.system, "system", system)
        others = {name: value for name, value in values.items() if name != "methods"}
        super().check(others)
        if "methods" in values:
            offered = list(self.method_choices(system).values())
            check_setting(param.ListSelector(objects=offered), "methods", values["methods"])

    def update(self, **values):
        """As `SettingsState.update`; a system given with other settings keeps those (not its defaults)."""
        self._given = set(values)
        try:
            return super().update(**values)
        finally:
            self._given = set()

    def activate(self):
        """End the deferral (the tab was opened) and run the cycle for the current settings."""
        self._deferred = False
        return self.recompute()

    def recompute(self):
        if self._deferred:  # (the settings are kept; `activate()` runs them)
            return None
        return super().recompute()

    def _on_setting(self, *events) -> None:
        if self._switching:  # the system's defaults are being set: one recompute, after them
            return
        # (a value given equal to the current one sends no event, yet must not be replaced by a default)
        names = {event.name for event in events} | self._given
        if "system" in names:
            self._switching = True
            try:
                self.param.methods.objects = self.method_choices(self.system)
                self.param.update(**self.system_defaults(self.system, given=names - {"system"}))
            finally:
                self._switching = False
        self.recompute()

    def settings(self) -> CycleSettings:
        """The current settings as a hashable `CycleSettings`."""
        lorenz63 = self.system == "lorenz63"
        value = float(self.model_rho if lorenz63 else self.model_forcing)
        return CycleSettings(
            obs_every=int(self.obs_every),
            obs_noise=float(self.obs_noise),
            ensemble_size=int(self.ensemble_size),
            inflation=float(self.inflation),
            lag=int(self.lag),
            n_cycles=int(self.n_cycles),
            seed=int(self.seed),
            system=str(self.system),
            localisation_radius=float(self.localisation_radius),
            model_value=None if value == (RHO if lorenz63 else FORCING) else value,
            model_noise=float(self.model_noise),
            model_error_q=float(self.model_error_q),
        )

    def derive(self):
        """Run the cycle for the current settings: (truth, runs) (`update()` and every change call this)."""
        return self._run([m for m in offered_methods(self.system) if m in self.methods], self.settings())

    def show(self, result) -> None:
        truth, runs = result
        self.param.update(truth=truth, runs=runs)


def default_run(system: str) -> tuple[tuple[str, ...], CycleSettings]:
    """(methods, settings) of the tab's first run on `system`: what the warm-up compiles."""
    state = CycleState(compute=False, system=system)
    return tuple(state.methods), state.settings()
