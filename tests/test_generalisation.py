"""The Generalisation tab without a browser: the heatmap shows exactly the sweep's rows, a click on a
cell loads that model and test density into the state, bad results files stay friendly, and the
sweep's models are listed (and share one compile)."""

from __future__ import annotations

import json
import logging

import jax
import pytest
from support import KNOWN, PRESET, REFERENCE_RMSE, TESTS, known_payload
from support import sweep_row as _row


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """An empty user model cache: only the shipped models (and the sweep's) are listed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dashboard.training.models import registry

    registry.refresh(force=True)
    yield
    registry.refresh(force=True)


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(known_payload()))
    return path


class _Recorder:
    """A stand-in for the solver: records the settings it was asked to solve (no JAX, no result)."""

    def __init__(self):
        self.calls = []

    def __call__(self, settings):
        self.calls.append(settings)


@pytest.fixture
def state():
    from dashboard.state.explore import ExperimentState

    return ExperimentState(solve=_Recorder())


def _view(state, results, **kw):
    from dashboard.views.generalisation import GeneralisationView

    return GeneralisationView(state=state, results=results, **kw)


def test_the_sweep_models_are_listed_after_the_defaults(state):
    from core.studies.sweep import SHIPPED, model_file_name
    from dashboard.training.models import registry, sweep_model_key

    keys = list(state.param.model.objects)
    assert keys[0] == registry.default_key() == "assets/fourdvarnet_attractor_every5.eqx"
    names = registry.options()
    labels = {key: label for label, key in names.items()}
    for name, words in (
        ("every2", "obs every 2,"),
        ("every20", "obs every 20,"),
        ("mixed_every", "obs every 2/3/"),
        ("mixed_components", "observed xyz/x/"),
    ):
        assert (SHIPPED / model_file_name(PRESET, name)).is_file()
        key = sweep_model_key(PRESET, name)
        assert key in keys and keys.index(key) > keys.index("assets/fourdvarnet_seed_every5.eqx")
        assert labels[key].startswith("sweep: ") and words in labels[key], labels[key]


def test_the_heatmap_holds_the_sweeps_rows_cell_by_cell(state, results):
    from bokeh.models import LogColorMapper

    from dashboard.training.models import sweep_model_key

    view = _view(state, results)
    assert not view.message.visible
    data = view.heatmap_source.data
    rows = [r for r in known_payload()["rows"] if r["axis"] == "density" and r["model"] != "strong_4dvar"]
    assert len(data["ratio"]) == len(rows) == len(KNOWN) * len(TESTS)
    cells = {(m, e): i for i, (m, e) in enumerate(zip(data["model"], data["test_obs_every"], strict=True))}
    assert len(cells) == len(rows)  # one cell per (model, test density)
    for row in rows:
        i = cells[(row["model"], row["test_obs_every"])]
        assert data["ratio"][i] == pytest.approx(row["ratio_to_4dvar"], rel=1e-12)
        assert data["ratio_text"][i] == f"{row['ratio_to_4dvar']:.2f}"
        assert data["rmse"][i] == pytest.approx(row["rmse_assim_median"], rel=1e-12)
        assert data["rmse_4dvar"][i] == pytest.approx(REFERENCE_RMSE[row["test_obs_every"]], rel=1e-12)
        assert data["test"][i] == str(row["test_obs_every"])
        assert data["model_key"][i] == sweep_model_key(PRESET, row["model"])
        assert data["own"][i] == int(row["train_obs_every"] == row["test_obs_every"])
    # Columns: the test densities in order; rows: every<N> by N, then the mixed models (top to bottom).
    fig = view.heatmap
    assert list(fig.x_range.factors) == ["2", "5", "10"]
    assert list(reversed(fig.y_range.factors)) == [
        "trained every 2",
        "trained every 10",
        "mixed densities 2-25",
        "mixed components (every 5)",
    ]
    # Coloured by the ratio on a log scale centred on 1 (low * high == 1), covering every ratio.
    mapper = view.heatmap_renderer.glyph.fill_color.transform
    assert isinstance(mapper, LogColorMapper) and mapper.low * mapper.high == pytest.approx(1.0)
    assert mapper.low <= min(data["ratio"]) and max(data["ratio"]) <= mapper.high
    assert view.heatmap_renderer.glyph.fill_color.field == "ratio"
    # "as good as 4DVar" is the palette's middle colour: near white.
    middle = mapper.palette[len(mapper.palette) // 2]
    assert all(int(middle[k : k + 2], 16) > 0xE8 for k in (1, 3, 5))


def test_the_curves_hold_the_rows_with_4dvar_in_blue(state, results):
    from dashboard.data.compute import method_colors

    METHOD_COLORS = method_colors()
    from dashboard.data.generalisation_data import curve_data

    view = _view(state, results)
    payload = known_payload()
    for axis, key in (("density", "test_obs_every"), ("noise", "test_obs_noise"), ("components", "test_observed")):
        curves = curve_data(payload, axis)
        assert list(curves)[0] == "strong_4dvar" and len(curves) == 1 + len(KNOWN)
        for name, c in curves.items():
            rows = [r for r in payload["rows"] if r["axis"] == axis and r["model"] == name]
            assert c["median"] == [r["rmse_assim_median"] for r in rows]
            assert c["p10"] == [r["rmse_assim_p10"] for r in rows]
            assert c["x"] == [r[key] for r in rows]
        fig = view.curves[axis]
        assert fig.y_scale.__class__.__name__ == "LogScale"
        items = {item.label["value"]: item for item in fig.legend[0].items}
        reference = items["strong 4DVar (reference)"]
        assert any(getattr(r.glyph, "line_color", None) == METHOD_COLORS["strong_4dvar"] for r in reference.renderers)
        colors = {
            r.glyph.line_color
            for label, item in items.items()
            if label != "strong 4DVar (reference)"
            for r in item.renderers
            if hasattr(r.glyph, "line_color") and r.glyph.__class__.__name__ == "Line"
        }
        assert len(colors) == len(KNOWN) and METHOD_COLORS["strong_4dvar"] not in colors


def test_clicking_a_cell_loads_that_model_and_density(state, results):
    from dashboard.training.models import sweep_model_key

    picked = []
    view = _view(state, results, on_pick=lambda: picked.append(True))
    state.param.update(preset="seed", obs_every=7, obs_noise=1.0, observed=["x"])
    data = view.heatmap_source.data
    for model, every in (("every10", 2), ("mixed_every", 10), ("every2", 5)):
        i = next(
            i
            for i, (m, e) in enumerate(zip(data["model"], data["test_obs_every"], strict=True))
            if (m, e) == (model, every)
        )
        view.heatmap_source.selected.indices = [i]  # what a TapTool sends from the browser
        assert state.model == sweep_model_key(PRESET, model)
        assert state.obs_every == every and state.preset == PRESET
        assert state.obs_noise == 0.5 and state.observed == ["x", "y", "z"]
        solved = state._solve.calls[-1]  # one solve with all of the cell's settings at once
        assert (solved.model, solved.obs_every, solved.preset, solved.observed) == (
            sweep_model_key(PRESET, model),
            every,
            PRESET,
            (0, 1, 2),
        )
        assert view.heatmap_source.selected.indices == []  # the same cell can be clicked again
        assert f"tested at every {every}" in view.picked.object
    assert len(picked) == 3


def test_a_click_on_the_served_page_switches_to_explore(results, monkeypatch):
    from bokeh.document import Document
    from bokeh.models import Tabs as BokehTabs

    from dashboard.app import Dashboard
    from dashboard.state.explore import ExperimentState

    monkeypatch.setenv("L63_SWEEP_RESULTS", str(results))
    app = Dashboard(state=ExperimentState(solve=_Recorder()))
    root = app.__panel__().get_root(Document())
    assert app.generalisation.heatmap_source is None  # built on first opening, not per page load
    app.tabs.active = 2
    assert root.select_one({"type": BokehTabs}).tabs[2].title == "Generalisation"
    source = app.generalisation.heatmap_source
    i = list(source.data["model"]).index("every10")
    source.selected.indices = [i]
    assert app.tabs.active == 0
    assert app.controls.obs_every.value == source.data["test_obs_every"][i]
    assert app.controls.model.value == source.data["model_key"][i]


def test_a_cell_whose_model_is_missing_is_refused_politely(state, tmp_path):
    payload = known_payload()
    for row in payload["rows"]:
        if row["model"] == "every2":
            row["model"] = "every3"  # no such shipped file
    path = tmp_path / "other.json"
    path.write_text(json.dumps(payload))
    view = _view(state, path)
    before = (state.model, state.obs_every)
    i = list(view.heatmap_source.data["model"]).index("every3")
    view.heatmap_source.selected.indices = [i]
    assert (state.model, state.obs_every) == before
    assert "cannot be opened" in view.picked.object and "every3" in view.picked.object


@pytest.mark.parametrize(
    "content, words",
    [
        (None, "No sweep results"),
        (b"{not json", "could not be read"),
        (b"\xff\xfe\x00garbage", "could not be read"),
        (json.dumps({"rows": []}).encode(), "no sweep rows"),
        (json.dumps([1, 2, 3]).encode(), "no sweep rows"),
        (json.dumps({"rows": [{"model": "every5"}]}).encode(), "lacks"),
        (
            json.dumps({"rows": [{**_row("density", "every5", 1.0, 0.1), "ratio_to_4dvar": "big"}]}).encode(),
            "non-numeric",
        ),
        (json.dumps({"rows": [_row("density", "every5", 1.0, 0.1)]}).encode(), "no strong 4DVar"),
    ],
)
def test_a_missing_or_corrupt_results_file_is_a_friendly_message(state, tmp_path, content, words):
    from bokeh.document import Document

    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    view = _view(state, path)
    assert view.message.visible and words in view.message.object, view.message.object
    assert "Traceback" not in view.message.object
    assert view.heatmap_source is None and not view.heatmap_pane.visible
    view.__panel__().get_root(Document())  # the tab still renders
    # Fixing the file and reloading shows the figures.
    path.write_text(json.dumps(known_payload()))
    assert view.reload() and not view.message.visible and len(view.heatmap_source.data["ratio"]) == 12


def test_recompute_runs_in_the_background_and_redraws(state, results):
    payload = known_payload()
    payload["rows"] = [r for r in payload["rows"] if r["test_obs_every"] != 10]
    view = _view(state, results, sweep_fn=lambda: payload)
    runner = view.runner
    job = runner.start()
    assert job is not None and runner.job is job and runner.button.disabled and runner.progress.visible
    job.thread.join(timeout=30)
    runner.poll()
    assert not runner.button.disabled and not runner.progress.visible and job.error == ""
    assert len(view.heatmap_source.data["ratio"]) == 8 and list(view.heatmap.x_range.factors) == ["2", "5"]
    assert "Quick sweep done" in runner.status.object


def test_the_sweep_models_share_one_compile():
    """What a click can reach is warm once one sweep model has run: same architecture, same shapes, the
    density is data (warmup.py runs every listed model anyway)."""
    from dashboard.data.compute import Settings, run_experiment
    from dashboard.training.models import registry

    keys = [k for k in registry.entries() if k.startswith("assets/sweep/")]
    assert len(keys) == 6
    run_experiment(Settings(model=keys[0], obs_every=5))

    class Count(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            if "Compiling" in record.getMessage():
                self.messages.append(record.getMessage())

    handler = Count()
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            for key, every in zip(keys[1:], (2, 10, 20, 25, 3), strict=True):
                out = run_experiment(Settings(model=key, obs_every=every))
                assert out.settings.model == key and out.methods["fourdvarnet"].rmse_assim > 0
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [], handler.messages[:3]
