"""What a slider move costs the server was cut without changing what it computes or shows: the kept
built methods solve as freshly built ones do, the metrics table's light update sends the text
Panel's own update sends, and a move seen from the browser's side changes the plots' data."""

from __future__ import annotations

import dataclasses

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document

import core

pytestmark = pytest.mark.usefixtures("user_cache")


def test_kept_methods_are_reused_and_solve_as_freshly_built_ones():
    from dashboard.data import compute
    from dashboard.training.models import registry

    model = registry.get(registry.default_key()).model
    kept = compute.built_methods(model, 5, 3)
    assert compute.built_methods(model, 5, 3) is kept  # built once
    other = compute.built_methods(model, 5, 4)
    assert other is not kept and other["fourdvarnet"].n_steps != kept["fourdvarnet"].n_steps
    fresh = core.build_methods(core.MethodContext(model=model, max_steps=5, n_steps=3))
    problem = compute.make_problem(compute.Settings(seed=7))
    for name in ("strong_4dvar", "fourdvarnet"):
        ours = core.evaluate(kept[name], problem, timing=None).trajectory
        theirs = core.evaluate(fresh[name], problem, timing=None).trajectory
        np.testing.assert_array_equal(ours, theirs)


def test_a_solve_times_each_method_once_warm_and_scores_as_before():
    from dashboard.data import compute

    settings = dataclasses.replace(compute.Settings(seed=11), methods=("free_run", "strong_4dvar"))
    experiment = compute.run_experiment(settings)
    problem = compute.make_problem(settings)
    for name, out in experiment.methods.items():
        assert np.isfinite(out.runtime_ms) and out.runtime_ms > 0
        reference = core.evaluate(
            core.build_methods(core.MethodContext(max_steps=20, n_steps=5), learned=False)[name],
            problem,
            timing=core.QUICK_TIMING,
        )
        np.testing.assert_allclose(out.trajectory, reference.trajectory, rtol=1e-6, atol=1e-6)
        assert out.rmse_total == pytest.approx(float(reference.rmse_total), rel=1e-6)


def test_the_light_text_pane_sends_what_panels_html_pane_sends():
    from dashboard.views.explore import TextPane

    first, second = "<table><tr><td>a &amp; b</td></tr></table>", '<div class="legend">x < y "z"</div>'
    ours, theirs = TextPane(first), pn.pane.HTML(first)
    ours_model, theirs_model = ours.get_root(Document()), theirs.get_root(Document())
    ours.object = theirs.object = second
    assert ours_model.text == theirs_model.text
    assert ours_model.text != TextPane(first).get_root(Document()).text


def test_a_seed_move_redraws_the_plots_and_names_the_new_seed():
    """The bench's move (benchmarks/movebench.py), as a browser's change: the patch sent back carries
    new curves (the truth of the new seed) and the table's caption says the seed."""
    from benchmarks.movebench import Page
    from dashboard.data import compute

    page = Page()
    seed = int(page.slider_model.value) + 1
    assert page.move(seed) > 10_000  # the new curves (float32 arrays) went out
    curves = page.app.explore.figures.curves.data
    truth = compute.run_experiment(dataclasses.replace(page.app.state.settings(), seed=seed)).truth
    np.testing.assert_allclose(curves["x"][0], truth[:, 0].astype(np.float32), rtol=1e-6)
    assert f"seed {seed}," in page.app.explore.table.object
