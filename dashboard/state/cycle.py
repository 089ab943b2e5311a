"""The Cycle tab's state: bounded, documented parameters of a cycled twin experiment.

No Panel here: the Cycle tab (`cycle_view.py`) builds its widgets from these parameters
(`Widget.from_param`), so labels, bounds and steps live here only. The bounds are checked again in
`core` (`sakov2012`, `build_cycled_method`): a crafted value out of range raises `ValueError` naming
the parameter and its range, and leaves the state as it was. The ensemble size and the number of
cycles are shapes (each new value compiles once per process), so they offer a few values only.
"""

from __future__ import annotations

import math

import param

from core.da.registry import CYCLED_METHOD_NAMES
from dashboard.data.cycle_data import MAX_OBS_EVERY, CycleSettings, label, run_all
from dashboard.state.settings import RESULT, SettingsState

ENSEMBLE_SIZES = (5, 10, 20, 40)
CYCLE_COUNTS = (250, 1000, 2000)
DEFAULT_METHODS = ("var3d", "enkf_sqrt", "ienks")


class CycleState(SettingsState):
    """One student's cycled experiment, and its result (recomputed on every change)."""

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
        doc="Model steps (dt 0.01) between observations: the forecast runs this long before each analysis.",
    )
    obs_noise = param.Number(
        default=math.sqrt(2.0),
        bounds=(0.1, 5.0),
        step=0.05,
        label="Observation noise (std)",
        doc="Standard deviation of the noise on each observation of x, y, z (sqrt 2 in DAPPER's sakov2012).",
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

    truth = param.Parameter(
        default=None, precedence=RESULT, doc="The latest truth run (`cycle_data.TruthRun`, read only)."
    )
    runs = param.Dict(
        default={}, precedence=RESULT, doc="The latest method runs by name (`cycle_data.MethodRun`, read only)."
    )

    FAILED = "Something went wrong while cycling ({kind}); try other settings."

    def __init__(self, run=run_all, compute: bool = True, **params):
        self._run = run
        super().__init__()
        # Every registered cycled method, read per session: one registered after import is offered too.
        self.param.methods.objects = {label(name): name for name in CYCLED_METHOD_NAMES}
        self.check(params)
        self.param.update(**params)
        self.watch_settings()
        if compute:
            self.recompute()

    def settings(self) -> CycleSettings:
        """The current settings as a hashable `CycleSettings`."""
        return CycleSettings(
            obs_every=int(self.obs_every),
            obs_noise=float(self.obs_noise),
            ensemble_size=int(self.ensemble_size),
            inflation=float(self.inflation),
            lag=int(self.lag),
            n_cycles=int(self.n_cycles),
            seed=int(self.seed),
        )

    def derive(self):
        """Run the cycle for the current settings: (truth, runs) (`update()` and every change call this)."""
        return self._run([m for m in CYCLED_METHOD_NAMES if m in self.methods], self.settings())

    def show(self, result) -> None:
        truth, runs = result
        self.param.update(truth=truth, runs=runs)
