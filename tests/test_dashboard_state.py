"""The dashboard's state and views without a browser: each control does what it says, bounds hold,
nothing recompiles when a slider moves, faults stay friendly, training lands in the user cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from support import count_compiles, wait_until

import core

# Each test gets an empty user model cache (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("user_cache")


@pytest.fixture
def state():
    from dashboard.data.compute import run_experiment
    from dashboard.state.explore import ExperimentState

    # Bypass the cross-session cache: every change must really solve.
    return ExperimentState(solve=run_experiment)


def _obs_count(experiment):
    return sum(len(t) for t in experiment.obs_t)


def test_density_sets_the_observation_times(state):
    dense = state.experiment
    assert _obs_count(dense) == 3 * 11  # every 5th of 51 steps, 3 components
    state.obs_every = 10
    sparse = state.experiment
    assert _obs_count(sparse) == 3 * 6
    np.testing.assert_allclose(sparse.obs_t[0], np.arange(0, 51, 10) * 0.01, atol=1e-9)
    np.testing.assert_array_equal(sparse.truth, dense.truth)  # same problem, fewer observations


def test_observed_components_and_noise(state):
    state.observed = ["x"]
    e = state.experiment
    assert len(e.obs_t[0]) == 11 and len(e.obs_t[1]) == 0 and len(e.obs_t[2]) == 0
    state.observed = ["x", "y", "z"]
    idx = np.rint(state.experiment.obs_t[0] / 0.01).astype(int)
    spread_small = np.std(state.experiment.obs_values[0] - state.experiment.truth[idx, 0])
    state.obs_noise = 3.0
    spread_large = np.std(state.experiment.obs_values[0] - state.experiment.truth[idx, 0])
    assert spread_large > 2 * spread_small


def test_seed_preset_and_new_problem(state):
    first = state.experiment.truth
    state.seed = 7
    assert not np.allclose(state.experiment.truth, first)
    before = state.seed
    state.new_problem()
    assert state.seed != before
    state.preset = "seed"
    truth = state.experiment.truth
    # The reference problem stays near the fixed point C+ (z ~ 27).
    assert abs(float(np.mean(truth[:, 2])) - 27.0) < 2.0


def test_k_changes_fourdvarnet_only(state):
    state.n_steps = 5
    e5 = state.experiment
    state.n_steps = 0
    e0 = state.experiment
    assert not np.allclose(e5.methods["fourdvarnet"].trajectory, e0.methods["fourdvarnet"].trajectory)
    np.testing.assert_array_equal(e5.methods["strong_4dvar"].trajectory, e0.methods["strong_4dvar"].trajectory)


def test_iteration_cap_shows_non_convergence(state):
    from dashboard.views.explore import table_html

    assert state.experiment.methods["strong_4dvar"].converged
    state.max_steps = 1
    out = state.experiment.methods["strong_4dvar"]
    assert state.error == ""  # not an error: a result
    assert out.converged is False and out.status == "hit the iteration cap"
    html = table_html(state.experiment, state.shown)
    assert 'class="bad">hit the iteration cap' in html


def test_model_choice_changes_fourdvarnet(state, user_cache):
    config = core.TrainingConfig(steps=0, seed=3)
    core.save_model(user_cache / "other.eqx", core.build_model(config), config, info={})
    state.refresh_models()
    assert "user/other.eqx" in list(state.param.model.objects)
    before = state.experiment.methods["fourdvarnet"].trajectory
    state.model = "user/other.eqx"
    assert "user/other.eqx" == state.experiment.settings.model
    assert not np.allclose(state.experiment.methods["fourdvarnet"].trajectory, before)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("obs_every", 0, "at least 1"),
        ("obs_every", 26, "at most 25"),
        ("obs_noise", 0.0, "at least 0.05"),
        ("obs_noise", 5.5, "at most 5"),
        ("seed", -1, "at least 0"),
        ("n_steps", 21, "at most 20"),
        ("max_steps", 7, "does not accept"),
        ("preset", "lorenz96", "does not accept"),
        ("observed", ["w"], ""),
    ],
)
def test_bounds_are_enforced(state, name, value, words):
    before = state.experiment
    with pytest.raises(ValueError, match=name) as info:
        setattr(state, name, value)
    assert words in str(info.value)
    assert state.experiment is before


def test_no_component_observed_is_a_friendly_error(state):
    before = state.experiment
    state.observed = []
    assert "at least one" in state.error and state.experiment is before
    state.observed = ["z"]
    assert state.error == "" and state.experiment is not before


def test_the_sidebar_is_built_from_the_state(state):
    from dashboard.data.compute import drawn_items, method_labels
    from dashboard.server.browser_patch import browser_sends
    from dashboard.views.controls import Controls

    controls = Controls(state=state)
    slider = controls.obs_noise
    assert (slider.name, slider.start, slider.end, slider.step) == ("Observation noise (std)", 0.05, 5.0, 0.05)
    assert list(controls.max_steps.options.values()) == list(state.param.max_steps.objects)
    assert dict(controls.shown.options) == {method_labels()[m]: m for m in drawn_items()}
    # Both ways: the state moves the widget, a (released) widget moves the state.
    state.seed = 17
    assert controls.seed.value == 17
    browser_sends(controls.seed, value=18, value_throttled=18)  # what the browser sends
    assert state.seed == 18 and state.experiment.settings.seed == 18
    browser_sends(controls.observed, active=[0, 2])  # the browser sends the buttons pressed
    assert state.experiment.settings.observed == (0, 2)


def test_crafted_widget_value_is_refused(state):
    from dashboard.views.controls import Controls, refusal_message

    controls = Controls(state=state)
    before = state.experiment
    # a tampered browser message, as the server receives it: refused, not raised
    from dashboard.server.browser_patch import browser_sends

    browser_sends(controls.obs_every, value=999, value_throttled=999)
    assert state.obs_every == 5 and state.experiment is before
    assert controls.obs_every.value == 5  # the widget snaps back to the state's value
    message = controls.refused.object
    assert controls.refused.visible and message.startswith("That value was refused")
    assert "Observe every N steps 999" in message and "at most 25" in message
    assert refusal_message(ValueError("raised elsewhere")) is None  # only the state's own checks
    browser_sends(controls.obs_every, value=7, value_throttled=7)
    assert state.obs_every == 7 and state.experiment.settings.obs_every == 7
    assert not controls.refused.visible  # cleared by the next valid move


def test_the_model_list_follows_the_registry(state, user_cache):
    from dashboard.training.models import registry
    from dashboard.views.controls import Controls

    controls = Controls(state=state)
    config = core.TrainingConfig(steps=0, seed=3)
    path = core.save_model(user_cache / "mine.eqx", core.build_model(config), config, info={})
    state.refresh_models()
    assert "user/mine.eqx" in controls.model.options.values()
    state.model = "user/mine.eqx"
    assert controls.model.value == "user/mine.eqx"
    path.unlink()  # gone (deleted by hand): the default model is chosen and solved with
    state.refresh_models()
    assert "user/mine.eqx" not in controls.model.options.values()
    default = registry.default_key()
    assert state.model == controls.model.value == default
    assert state.experiment.settings.model == default


def test_the_about_text_quotes_the_page(state):
    from dashboard.views.about import about_markdown

    text = about_markdown(state, skipped=["broken.eqx could not be read"])
    e = state.experiment
    assert f"0 ≤ t ≤ {e.window_end:g})" in text and f"to t = {e.t[-1]:g} with" in text
    assert (e.window_end, e.t[-1]) == (0.5, 10.0)
    for name in ("obs_every", "max_steps", "model"):
        assert f"| {state.param[name].label} |" in text
    assert "**Note:** broken.eqx could not be read" in text
    assert "{{" not in text and "Note:" not in about_markdown(state)


def test_moving_density_noise_seed_or_k_never_recompiles(state):
    # Warm up on one setting, then move every traced slider through new values.
    state.update()
    truths = []
    with count_compiles() as compiles:
        for value in (2, 3, 9, 25, 1):
            state.obs_every = value
        for value in (0.05, 0.1, 1.7, 5.0):
            state.obs_noise = value
        for value in (1, 2, 1234, 9999):
            state.seed = value
            truths.append(state.experiment.truth[0])
        for value in (0, 1, 7, 20):
            state.n_steps = value
    assert compiles.n == 0
    # The moves were solved (each seed its own truth), not skipped.
    assert state.error == "" and len({tuple(np.round(t, 6)) for t in truths}) == 4


def test_the_model_error_sliders_change_the_methods_model_not_the_truth_and_never_recompile(state):
    """The methods' rho moves every method's model, never the truth; the truth's noise moves the truth.
    Strong 4DVar trusts its model, so a wrong rho costs it more than weak 4DVar, which lets the model err."""
    state.shown = [*state.shown, "weak_4dvar"]
    perfect = state.experiment
    with count_compiles() as compiles:
        state.model_rho = 26.0
        wrong = state.experiment
        state.model_noise = 1.0
        noisy = state.experiment
        state.model_rho = 31.5
    assert compiles.n == 0 and state.error == ""
    np.testing.assert_array_equal(wrong.truth, perfect.truth)  # the truth keeps rho = 28
    assert not np.allclose(noisy.truth[1:], wrong.truth[1:])  # the truth's own model noise
    rmse = {name: (perfect.methods[name].rmse_assim, wrong.methods[name].rmse_assim) for name in perfect.methods}
    assert rmse["strong_4dvar"][1] > 3 * rmse["strong_4dvar"][0]  # (0.07 -> 0.78 on this problem)
    assert rmse["weak_4dvar"][1] < rmse["strong_4dvar"][1]


def test_a_failing_solve_is_friendly_and_the_session_recovers():
    from dashboard.data.compute import run_experiment
    from dashboard.state.explore import ExperimentState

    calls = {"fail": False}

    def flaky(settings):
        if calls["fail"]:
            raise RuntimeError("boom")
        return run_experiment(settings)

    state = ExperimentState(solve=flaky)
    before = state.experiment
    calls["fail"] = True
    state.seed = 3
    assert "Something went wrong" in state.error and "boom" not in state.error
    assert state.experiment is before
    calls["fail"] = False
    state.seed = 4
    assert state.error == "" and state.experiment.settings.seed == 4


def test_corrupt_or_foreign_model_files_are_skipped(user_cache, caplog):
    from dashboard.training.models import registry

    user_cache.mkdir(parents=True, exist_ok=True)
    (user_cache / "broken.eqx").write_bytes(b"not a model at all")
    config = core.TrainingConfig(steps=0)
    good = core.save_model(user_cache / "good.eqx", core.build_model(config), config)
    truncated = user_cache / "truncated.eqx"
    truncated.write_bytes(good.read_bytes()[:-100])
    with caplog.at_level(logging.INFO):
        registry.refresh(force=True)
    keys = list(registry.entries())
    assert "user/good.eqx" in keys
    assert "user/broken.eqx" not in keys and "user/truncated.eqx" not in keys
    assert len([r for r in caplog.records if "broken.eqx" in r.getMessage()]) == 1  # one line in the log
    assert len(registry.skipped) == 2


def test_views_render_and_export_without_a_browser(state):
    from bokeh.document import Document

    from dashboard.data.export import metrics_csv, trajectories_csv
    from dashboard.views.explore import ExploreView

    view = ExploreView(state=state)
    view.__panel__().get_root(Document())
    lines = trajectories_csv(state.experiment).splitlines()
    assert lines[0].startswith("# preset=attractor") and len(lines) == 2 + 1001
    assert lines[1].startswith("t,truth_x,truth_y,truth_z,obs_x")
    assert len(metrics_csv(state.experiment).splitlines()) == 4
    # A hidden method is not drawn (no row in any figure's source); new settings patch the same
    # sources in place: the x(t) source's truth row is the experiment's new truth.
    source = view.figures.curves
    fourdvarnet = state.experiment.methods["fourdvarnet"].trajectory[:, 0]
    assert any(np.allclose(x, fourdvarnet, atol=1e-4) for x in source.data["x"])
    state.shown = ["truth", "strong_4dvar"]
    view.refresh()  # (the Dashboard calls this on every change)
    assert not any(np.allclose(x, fourdvarnet, atol=1e-4) for x in source.data["x"])
    assert len(source.data["x"]) == 2
    state.seed = 11
    view.refresh()
    assert view.figures.curves is source
    np.testing.assert_allclose(source.data["x"][0], state.experiment.truth[:, 0], rtol=1e-6, atol=1e-5)
    # The downloads are named after the settings they hold when they are asked for (Panel reads the
    # name after the callback), not on every redraw.
    csv_text = view._trajectories_csv().read()
    assert view.csv.filename == "l63_attractor_seed11_every5_noise0.5_xyz_K5_cap20_trajectories.csv"
    assert csv_text.startswith("# preset=attractor")
    view._metrics_csv()
    assert view.metrics_csv.filename == "l63_attractor_seed11_every5_noise0.5_xyz_K5_cap20_metrics.csv"


@pytest.mark.slow
@pytest.mark.ci  # ~20-70 s: outside the README's command, run by CI in a step of its own (.ci/run)
def test_training_job_saves_to_the_user_cache_and_is_selectable(state, user_cache):
    from dashboard.training.models import registry
    from dashboard.views.train import TrainingJob

    def shipped_files():
        return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in registry.assets_dir.rglob("*.eqx")}

    shipped = shipped_files()
    assert shipped
    config = core.TrainingConfig(steps=5, batch_size=8, seed=1)
    job = TrainingJob.start(config)
    assert job is not None
    second = TrainingJob.start(config)  # one training at a time: the second waits in the queue
    wait_until(lambda: second.place is not None and job.began is not None, 60, "the first training to begin")
    assert job.place.first and (second.place.position, second.place.length) == (2, 2) and second.began is None
    assert second.cancel()
    second.thread.join(timeout=30)
    assert second.began is None and "left the queue" in second.error
    job.thread.join(timeout=240)
    assert job.done and job.error == "", job.error
    assert len(job.losses) == 5
    assert job.entry.key.startswith("user/") and (user_cache / job.entry.key[5:]).is_file()
    assert "attractor, obs every 5" in job.entry.label
    state.refresh_models()
    state.model = job.entry.key
    assert state.experiment.model_label == job.entry.label
    # Shipped assets are never written: the same files, untouched.
    assert shipped_files() == shipped


def test_the_train_tab_refuses_unusable_settings(state):
    from dashboard.views.train import TrainView

    view = TrainView(state=state)
    assert "Will train on: <b>attractor, obs every 5" in view.runner.status.object
    state.observed = []
    assert view.runner.start() is None and view.runner.job is None
    assert 'class="bad"' in view.runner.status.object and "at least one" in view.runner.status.object
    assert not view.runner.button.disabled


def test_importing_the_app_has_no_side_effects():
    import panel as pn

    import dashboard.app as app

    assert not pn.state.served
    assert not hasattr(app, "_template")


def test_the_uncertainty_band_is_strong_4dvar_plus_minus_two_std(state):
    """One VArea per time plot reads strong 4DVar's trajectory -+ 2 posterior std; hiding 4DVar empties it."""
    from bokeh.models import VArea

    from dashboard.figures.plots import ExploreFigures

    figures = ExploreFigures()
    figures.update(state.experiment, tuple(state.shown))
    out = state.experiment.methods["strong_4dvar"]
    assert out.std is not None and np.all(np.isfinite(out.std)) and np.all(out.std > 0)
    band = figures.band.data
    for c, name in enumerate("xyz"):
        np.testing.assert_allclose(band[f"{name}_lo"], out.trajectory[:, c] - 2 * out.std[:, c], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(band[f"{name}_hi"], out.trajectory[:, c] + 2 * out.std[:, c], rtol=1e-5, atol=1e-4)
    # Inside the window the band is narrower than the prior's spread (B = 25 I, std 5): the
    # observations constrain the start.
    n_window = int(round(state.experiment.window_end / (state.experiment.t[1] - state.experiment.t[0]))) + 1
    assert np.median(out.std[:n_window]) < 5.0
    areas = [r for f in figures.figures[:3] for r in f.renderers if isinstance(r.glyph, VArea)]
    assert len(areas) == 3 and all(r.data_source is figures.band for r in areas)
    figures.update(state.experiment, ("truth", "fourdvarnet"))
    assert len(figures.band.data["t"]) == 0


def test_a_page_shares_its_stateless_plot_models():
    """Tickers, formatters and label policies are one model per page, not one per axis (page cost);
    a renderer's view is never shared (BokehJS sizes a view from one source: shared, it cut the
    observations and the band down to the curves' few rows)."""
    from bokeh.models import BasicTicker, BasicTickFormatter, GlyphRenderer

    from dashboard.figures.plots import ExploreFigures

    figures = ExploreFigures()
    models = set(figures.grid.references()) | set(figures.phase.references())
    for kind in (BasicTicker, BasicTickFormatter):
        assert sum(isinstance(m, kind) for m in models) == 1, kind.__name__
    renderers = [m for m in models if isinstance(m, GlyphRenderer)]
    assert len({id(r.view) for r in renderers}) == len(renderers)


def test_the_seed_number_box_sets_the_seed_and_refuses_out_of_range(state):
    from dashboard.server.browser_patch import browser_sends
    from dashboard.views.controls import Controls

    controls = Controls(state=state)
    box = controls.seed_box
    assert (box.start, box.end) == state.param.seed.bounds
    browser_sends(box, value=1234)  # what the browser sends when a number is typed
    assert state.seed == 1234 and state.experiment.settings.seed == 1234
    assert controls.seed.value == 1234  # the slider follows
    browser_sends(box, value=10_000)
    assert state.seed == 1234
    assert controls.refused.visible and "10000" in controls.refused.object


def test_the_figure_pool_hands_out_each_set_once_and_tops_itself_up():
    from dashboard.figures.figure_pool import FigurePool
    from dashboard.figures.plots import ExploreFigures

    pool = FigurePool(size=2, idle_s=0.0)
    built_now = pool.take()  # not filled yet: built on the spot, no refill
    assert len(pool) == 0
    pool.fill()
    assert len(pool) == 2
    first, second = pool.take(), pool.take()
    # Held, so that no id is reused: three distinct sets.
    assert len({id(built_now), id(first), id(second)}) == 3 and isinstance(first, ExploreFigures)
    assert first.curves is not second.curves  # a page never shares another page's sources
    wait_until(lambda: len(pool) == 2, 30, "the pool to refill to 2")
