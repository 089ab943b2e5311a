"""The dashboard's state: bounded, documented parameters and the experiment they define.

No Panel here: this class is the model, and the `Viewer`s (`controls.py`, `explore.py`,
`train.py`, `generalisation.py`) are thin views over it; the sidebar's widgets are built from these
parameters (`Widget.from_param`), so their labels, bounds, steps and options live here only.
The bounds are checked again in `core`: setting a value out of range raises `ValueError` naming
the parameter and its range, and leaves the state as it was.
"""

from __future__ import annotations

import random

import param

from core.systems.lorenz import RHO
from dashboard.data import compute
from dashboard.data.compute import (
    DEFAULT_SHOWN,
    DEFAULT_WINDOW,
    ITERATION_CAPS,
    WINDOWS,
    Experiment,
    Settings,
    drawn_items,
    method_labels,
    solved_methods,
)
from dashboard.state.settings import RESULT, SettingsState
from dashboard.training.models import registry

COMPONENT_NAMES = ("x", "y", "z")


class ExperimentState(SettingsState):
    """One student's settings, and the experiment they give (recomputed on every change).

    The settings are declared in the order of the page's URL query (`app.URL_PARAMETERS`).
    """

    preset = param.Selector(
        default="attractor",
        objects=["attractor", "seed"],
        label="Problem",
        doc="attractor: the truth starts on the butterfly, forecasts lose skill after a few time "
        "units. seed: the reference notebook's problem, which stays near a fixed point.",
    )
    obs_every = param.Integer(
        default=5,
        bounds=(1, 25),
        label="Observe every N steps",
        doc="Observations at every N-th time step of the window (1 = every step: dense).",
    )
    observed = param.ListSelector(
        default=list(COMPONENT_NAMES),
        objects=list(COMPONENT_NAMES),
        label="Observed components",
        doc="Which of x, y, z are measured. At least one.",
    )
    obs_noise = param.Number(
        default=0.5,
        bounds=(0.05, 5.0),  # core's floor is 0.01 (a noiseless observation has no chi-square law)
        step=0.05,
        label="Observation noise (std)",
        doc="Standard deviation of the Gaussian noise added to each observation.",
    )
    window = param.Selector(
        default=DEFAULT_WINDOW,
        objects=list(WINDOWS),
        label="Assimilation window (steps; 100 = 1 time unit)",
        doc="How long the observed window is, from 0.1 to 3 time units; the forecast follows it up to "
        "t = 10. Long windows make 4DVar's cost a field of valleys: watch it in the Landscape tab.",
    )
    seed = param.Integer(
        default=42,
        bounds=(0, 9999),
        label="Problem seed",
        doc="Which random truth and observation noise: a new seed is a new problem.",
    )
    n_steps = param.Integer(
        default=5,
        bounds=(0, 20),
        label="FourDVarNet steps K",
        doc="How many learned descent steps FourDVarNet takes (0 = its first guess).",
    )
    max_steps = param.Selector(
        default=20,
        objects=list(ITERATION_CAPS),
        label="4DVar iteration cap",
        doc="The most Gauss-Newton iterations strong 4DVar may take before it must stop.",
    )
    model = param.Selector(
        default="",
        objects=[""],
        label="Trained FourDVarNet",
        doc="Which trained FourDVarNet to use; each says what it was trained on.",
    )
    shown = param.ListSelector(
        default=list(DEFAULT_SHOWN),
        objects=list(DEFAULT_SHOWN),  # every registered method, set per session in __init__
        label="Shown",
        doc="Which curves to draw; a method is solved when it is shown.",
    )

    model_rho = param.Number(
        default=RHO,
        bounds=(20.0, 34.0),
        step=0.5,
        label=f"The methods' model: rho (the truth's: {RHO:g})",
        doc="Model error: every method forecasts with this rho while the truth runs with 28. Strong 4DVar "
        "trusts its model exactly; weak-constraint 4DVar lets it err.",
    )
    model_noise = param.Number(
        default=0.0,
        bounds=(0.0, 5.0),
        step=0.1,
        label="The truth's model noise Q",
        doc="Random kicks the truth gets, a variance per time unit, that no method's model knows about (0: none).",
    )

    experiment = param.Parameter(default=None, precedence=RESULT, doc="The latest solved experiment (read only).")

    FAILED = "Something went wrong while solving this problem ({kind}). Try other settings; the page keeps working."

    def __init__(self, solve=compute.solve, owner: str = "", **params):
        self._solve = solve
        super().__init__()
        self.owner = owner  # whose trained models this session lists (dashboard/training/owners.py)
        # The registry may have grown since this class was defined: offer every method it knows.
        labels = method_labels()
        self.param.shown.objects = {labels[m]: m for m in drawn_items()}
        given = {k: v for k, v in params.items() if k != "model"}
        self.check(given)
        self.param.update(**given)
        self.refresh_models()
        if "model" in params:
            self.check({"model": params["model"]})
            self.model = params["model"]
        self.watch_settings()
        self.recompute()

    # -- inputs -----------------------------------------------------------------------------

    def refresh_models(self) -> bool:
        """Re-read the list of models (e.g. after a training); keeps the choice if it still exists."""
        registry.refresh()
        options = registry.options(self.owner)
        keys = list(options.values())
        current = dict(getattr(self.param.model, "names", None) or {})
        changed = current != options
        if changed:
            self.param.model.objects = options  # the sidebar's Select follows (`Widget.from_param`)
            if self.model not in keys:  # the chosen model is gone: solve with the default one
                self.model = registry.default_key()
        return changed

    def settings(self) -> Settings:
        """The current settings (validated) as a hashable `Settings`."""
        observed = tuple(COMPONENT_NAMES.index(c) for c in COMPONENT_NAMES if c in self.observed)
        if not observed:
            raise ValueError("observed must name at least one of the components x, y, z")
        return Settings(
            preset=self.preset,
            obs_every=int(self.obs_every),
            obs_noise=float(self.obs_noise),
            observed=observed,
            seed=int(self.seed),
            n_steps=int(self.n_steps),
            max_steps=int(self.max_steps),
            model=self.model,
            methods=tuple(m for m in solved_methods() if m in self.shown),
            window=int(self.window),
            model_rho=float(self.model_rho),
            model_noise=float(self.model_noise),
        )

    def new_problem(self) -> None:
        """A fresh random seed (the 'new problem' button)."""
        lo, hi = self.param.seed.bounds
        choice = self.seed
        while choice == self.seed:
            choice = random.randint(lo, hi)
        self.seed = choice

    # -- results ----------------------------------------------------------------------------

    def derive(self) -> Experiment | None:
        """Solve for the current settings (`update()` and every change of a setting call this)."""
        return self._solve(self.settings())

    def show(self, experiment: Experiment | None) -> None:
        self.experiment = experiment
