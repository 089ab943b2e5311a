"""The one settings base of the Explore and Cycle states (dashboard/state/settings.py): the settings are
read from the parameters once, for the URL, the sidebar and the load test; `update(**values)` checks
every value before it changes any; a failed recompute keeps the last results and says why."""

from __future__ import annotations

import json
import math

import param
import pytest

from dashboard.state.settings import RESULT, SettingsState, SliderSpec, slider_specs

pytestmark = pytest.mark.usefixtures("user_cache")

# The page's URL query names, in their order, as the app listed them by hand before this base.
EXPLORE_URL = (
    "preset",
    "obs_every",
    "observed",
    "obs_noise",
    "window",
    "seed",
    "n_steps",
    "max_steps",
    "model",
    "shown",
    "model_rho",  # (model error: after the settings of 9da4672, so that its URLs keep their prefix)
    "model_noise",
    # Lorenz-96 (issue 17): after every Lorenz-63 setting, so that an old link keeps its prefix.
    "system",
    "model_forcing",
    "observed_share",
    "obs_every_96",
    "noise_variance",
    "window_96",
    "map_method",
    "variable",
)
# What a link now says after Lorenz-63's settings when Lorenz-96 keeps its defaults.
LORENZ96_DEFAULTS = (
    "&system=lorenz63&model_forcing=8.0&observed_share=0.5&obs_every_96=4&noise_variance=2.0&window_96=200"
    "&map_method=strong_4dvar&variable=0"
)
CYCLE_SETTINGS = (
    "system",
    "methods",
    "obs_every",
    "obs_noise",
    "ensemble_size",
    "inflation",
    "localisation_radius",
    "lag",
    "n_cycles",
    "seed",
    "model_rho",
    "model_forcing",
    "model_noise",
    "model_error_q",
)


class Toy(SettingsState):
    """A state with one setting and one result: derive() fails on purpose for some sizes."""

    size = param.Integer(default=3, bounds=(1, 9), label="Size")
    double = param.Integer(default=None, allow_None=True, precedence=RESULT)
    FAILED = "Broke ({kind})."

    def __init__(self, **params):
        super().__init__(**params)
        self.watch_settings()

    def derive(self):
        if self.size == 5:
            raise ValueError("size 5 has no double here")
        if self.size == 7:
            raise RuntimeError("a bug")
        return 2 * self.size

    def show(self, result) -> None:
        self.double = result


@pytest.fixture
def explore():
    from dashboard.state.explore import ExperimentState

    calls = []

    def solve(settings):
        calls.append(settings)
        return settings  # the "experiment" is the settings it was solved for

    state = ExperimentState(solve=solve)
    state.calls = calls
    return state


def test_the_settings_are_read_from_the_parameters_in_the_url_order():
    from dashboard.app import URL_PARAMETERS
    from dashboard.state.cycle import CycleState
    from dashboard.state.explore import ExperimentState

    assert ExperimentState.setting_names() == EXPLORE_URL == URL_PARAMETERS
    assert CycleState.setting_names() == CYCLE_SETTINGS  # truth, runs and error are results, not settings
    assert Toy.setting_names() == ("size",)


def test_the_url_of_a_page_is_as_it_was(explore):
    from panel.io.location import Location

    from dashboard.app import URL_PARAMETERS

    location = Location()
    location.sync(explore, {name: name for name in URL_PARAMETERS})
    explore.param.update(seed=7, observed=["x", "z"], obs_noise=1.25, window=10, shown=["truth", "observations"])
    # The query string the app wrote before the settings base (measured on 9da4672).
    assert location.search == (
        "?preset=attractor&obs_every=5&observed=%5B%22x%22%2C+%22z%22%5D&obs_noise=1.25&window=10&seed=7"
        "&n_steps=5&max_steps=20&model=assets%2Ffourdvarnet_attractor_every5.eqx"
        "&shown=%5B%22truth%22%2C+%22observations%22%5D&model_rho=28.0&model_noise=0.0" + LORENZ96_DEFAULTS
    )


def test_a_link_from_before_model_error_opens_with_the_perfect_model(explore):
    """A link shared before the model-error settings existed has no model_rho: the page opens with the truth's."""
    from panel.io.location import Location

    from dashboard.app import URL_PARAMETERS

    location = Location(search="?preset=seed&obs_every=8&seed=3")
    location.sync(explore, {name: name for name in URL_PARAMETERS})
    assert (explore.preset, explore.obs_every, explore.seed) == ("seed", 8, 3)
    assert explore.settings().model_rho == 28.0 and explore.settings().model_noise == 0.0
    assert location.search.endswith("&model_rho=28.0&model_noise=0.0" + LORENZ96_DEFAULTS)  # and the link says it
    assert explore.system == "lorenz63"  # an old link opens Lorenz-63


@pytest.mark.parametrize(
    "values, words",
    [
        ({"seed": 7, "obs_every": 999}, "obs_every must be between 1 and 25"),
        ({"seed": 7, "obs_noise": 0.0}, "obs_noise must be between 0.05 and 5.0"),
        ({"seed": 7, "obs_noise": math.nan}, "obs_noise must be a finite number"),
        ({"obs_every": 3, "seed": 1.5}, "seed must be a whole number"),
        ({"obs_every": 3, "seed": "12"}, "seed must be a whole number between 0 and 9999"),
        ({"seed": 7, "preset": "lorenz96"}, "preset must be one of 'attractor', 'seed'"),
        ({"seed": 7, "observed": ["x", "w"]}, "observed must be one of 'x', 'y', 'z'"),
        ({"seed": 7, "observed": ["x", "x"]}, "observed must be a list of distinct options"),
        ({"seed": 7, "max_steps": 7}, "max_steps must be one of"),
        ({"seed": 7, "experiment": None}, "'experiment' is not a setting"),
    ],
)
def test_update_checks_every_value_before_it_changes_any(explore, values, words):
    before = {name: getattr(explore, name) for name in EXPLORE_URL}
    solved, experiment = len(explore.calls), explore.experiment
    with pytest.raises(ValueError, match=words):
        explore.update(**values)
    # param's own update would have set the first value before refusing the second.
    assert {name: getattr(explore, name) for name in EXPLORE_URL} == before
    assert len(explore.calls) == solved and explore.experiment is experiment


def test_update_sets_several_settings_with_one_solve(explore):
    solved = len(explore.calls)
    result = explore.update(seed=7, obs_every=3, obs_noise=1.0)
    assert len(explore.calls) == solved + 1
    assert (result.seed, result.obs_every, result.obs_noise) == (7, 3, 1.0)
    assert explore.experiment is result and explore.error == ""
    assert explore.update() is not result and len(explore.calls) == solved + 2  # no values: solve again


def test_the_cycle_state_checks_before_it_runs():
    from dashboard.state.cycle import CycleState

    calls = []
    state = CycleState(run=lambda methods, settings: calls.append(settings) or ("truth", {}), compute=False)
    with pytest.raises(ValueError, match="inflation must be between 1.0 and 1.2"):
        state.update(lag=2, inflation=1.5)
    assert (state.lag, state.inflation, calls) == (1, 1.02, [])
    assert state.update(lag=2, inflation=1.1) == ("truth", {})
    assert [(s.lag, s.inflation) for s in calls] == [(2, 1.1)] and state.truth == "truth"
    with pytest.raises(ValueError, match="ensemble_size must be one of 5, 7, 10, 20, 24, 40"):
        CycleState(compute=False, ensemble_size=8)


def test_a_failed_recompute_keeps_the_results_and_says_why():
    toy = Toy()
    assert toy.update() == 6 and toy.double == 6
    assert toy.update(size=5) is None
    assert toy.error == "These settings cannot be used: size 5 has no double here" and toy.double == 6
    assert toy.update(size=7) is None
    assert toy.error == "Broke (RuntimeError)." and toy.double == 6
    assert toy.update(size=4) == 8 and toy.error == "" and toy.double == 8
    with pytest.raises(ValueError, match="size must be between 1 and 9"):
        toy.update(size=10)


def test_each_slider_is_built_from_its_spec():
    from dashboard.state.cycle import CycleState
    from dashboard.state.explore import ExperimentState
    from dashboard.views.controls import Controls
    from dashboard.views.cycle_view import CycleView

    assert slider_specs(Toy) == {"size": SliderSpec("size", "Size", 1, 9, 1, True)}
    explore = ExperimentState(solve=lambda settings: None)
    specs = slider_specs(ExperimentState)
    assert list(specs) == ["obs_every", "obs_noise", "seed", "n_steps", "model_rho", "model_noise"] + [
        "model_forcing",  # Lorenz-96's (issue 17), shown in place of Lorenz-63's when it is chosen
        "observed_share",
        "obs_every_96",
        "noise_variance",
        "variable",
    ]
    controls = Controls(state=explore)
    for name, spec in specs.items():  # the sidebar's sliders, as Panel built them from the parameters
        slider = getattr(controls, name)
        assert (slider.name, slider.start, slider.end, slider.step) == (spec.label, spec.low, spec.high, spec.step)
    view = CycleView(state=CycleState(run=lambda methods, settings: (None, {}), compute=False), lazy=True)
    view.ensure_loaded()
    for name, spec in slider_specs(CycleState).items():
        slider = view.widgets[name]
        assert (slider.name, slider.start, slider.end, slider.step) == (spec.label, spec.low, spec.high, spec.step)


def test_the_load_test_finds_every_slider_it_moves_in_the_page():
    from bokeh.document import Document
    from bokeh.protocol import Protocol

    from benchmarks.loadtest import SLIDERS, _find_sliders
    from dashboard.state.explore import ExperimentState
    from dashboard.views.controls import Controls

    state = ExperimentState(solve=lambda settings: None)
    doc = Document()
    doc.add_root(Controls(state=state).__panel__().get_root(doc))
    pulled = json.loads(Protocol().create("PULL-DOC-REPLY", "request", doc).content_json)
    found = {}
    _find_sliders(pulled, found)  # as it walks the document the server sends a pulling client
    assert set(found) == set(SLIDERS) and len(SLIDERS) == 6
    assert {title: value for title, (_, value) in found.items()} == {
        spec.label: getattr(state, spec.name) for spec in SLIDERS.values()
    }
