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
from dashboard.data import compute, lorenz96_compute
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
from dashboard.data.lorenz96_compute import LABELS_96, METHODS_96, N_VARIABLES, WINDOWS_96, Settings96
from dashboard.state.settings import RESULT, SettingsState, model_noise_setting
from dashboard.training.models import registry

COMPONENT_NAMES = ("x", "y", "z")
SYSTEM_LABELS = {"Lorenz-63": "lorenz63", "Lorenz-96": "lorenz96"}
L96_DEFAULTS = Settings96()  # the 4DVarNet authors' set-up (core/setups/lorenz96_windows.py)
# The settings only Lorenz-96 reads, and of those the ones that only choose what is drawn (no solve).
L96_ONLY = ("model_forcing", "observed_share", "obs_every_96", "noise_variance", "window_96", "map_method", "variable")
DISPLAY_ONLY = ("map_method", "variable")


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
    model_noise = model_noise_setting()

    # Lorenz-96 (issue 17): after every Lorenz-63 setting, so that an old link keeps its prefix and opens
    # Lorenz-63 exactly as before. The seed is shared by both systems; the rest is Lorenz-96's own.
    system = param.Selector(
        default="lorenz63",
        objects=SYSTEM_LABELS,
        label="System",
        doc="Lorenz-63: 3 variables (x, y, z). Lorenz-96: 40 variables on a circle, observed in part: the "
        "4DVarNet authors' window problem.",
    )
    model_forcing = param.Number(
        default=L96_DEFAULTS.model_forcing,
        bounds=(4.0, 12.0),
        step=0.25,
        label="The methods' forcing F (the truth's: 8)",
        doc="Model error: every method forecasts with this F while the truth runs with F = 8.",
    )
    observed_share = param.Number(
        default=L96_DEFAULTS.observed_share,
        bounds=(0.05, 1.0),
        step=0.05,
        label="Observed share of the variables",
        doc="At each observation time each of the 40 variables is observed with this probability (drawn anew).",
    )
    obs_every_96 = param.Integer(
        default=L96_DEFAULTS.obs_every,
        bounds=(1, 20),
        label="Observation interval (steps of dt = 0.05)",
        doc="Observations at every N-th time step of the window.",
    )
    noise_variance = param.Number(
        default=L96_DEFAULTS.noise_variance,
        bounds=(0.1, 5.0),
        step=0.1,
        label="Noise variance of the observations",
        doc="The variance of the Gaussian noise on each observation (the authors': 2).",
    )
    window_96 = param.Selector(
        default=L96_DEFAULTS.window,
        objects=list(WINDOWS_96),
        label="Window length (steps; 20 = 1 time unit)",
        doc="How long the observed window is: 200 steps (10 time units) is the authors' set-up.",
    )
    map_method = param.Selector(
        default="strong_4dvar",
        objects={LABELS_96[m]: m for m in METHODS_96},
        label="Analysis shown in the maps",
        doc="Whose analysis, and its error, the space-time maps show.",
    )
    variable = param.Integer(
        default=0,
        bounds=(0, N_VARIABLES - 1),
        label="Variable in the time series",
        doc="Which of the 40 variables the time-series plot follows (its observations as crosses).",
    )

    experiment = param.Parameter(default=None, precedence=RESULT, doc="The latest solved experiment (read only).")

    FAILED = "Something went wrong while solving this problem ({kind}). Try other settings; the page keeps working."

    def __init__(self, solve=compute.solve, owner: str = "", solve96=lorenz96_compute.solve96, **params):
        self._solve, self._solve96 = solve, solve96
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

    def settings96(self) -> Settings96:
        """The current Lorenz-96 settings (the seed is shared with Lorenz-63)."""
        return Settings96(
            obs_every=int(self.obs_every_96),
            observed_share=float(self.observed_share),
            noise_variance=float(self.noise_variance),
            window=int(self.window_96),
            model_forcing=float(self.model_forcing),
            seed=int(self.seed),
        )

    def new_problem(self) -> None:
        """A fresh random seed (the 'new problem' button)."""
        lo, hi = self.param.seed.bounds
        choice = self.seed
        while choice == self.seed:
            choice = random.randint(lo, hi)
        self.seed = choice

    # -- results ----------------------------------------------------------------------------

    def read_settings(self) -> set[str]:
        """The settings the chosen system's result depends on."""
        if self.system == "lorenz96":
            return {"system", "seed", *L96_ONLY} - set(DISPLAY_ONLY)
        return set(self.setting_names()) - set(L96_ONLY)

    def _on_setting(self, *events) -> None:
        # A change the chosen system does not read (a drawing choice, the other system's settings) keeps
        # the result: Lorenz-63's numbers, and its solves, are exactly as before Lorenz-96 came.
        if self.latest is not None and not {event.name for event in events} & self.read_settings():
            return
        self.recompute()

    def derive(self) -> Experiment | lorenz96_compute.Experiment96 | None:
        """Solve for the current settings (`update()` and every change of a setting call this); a change
        of a setting the chosen system does not read is answered from the cache (no solve)."""
        if self.system == "lorenz96":
            return self._solve96(self.settings96())
        return self._solve(self.settings())

    def show(self, experiment: Experiment | None) -> None:
        self.experiment = experiment
