"""Strong 4DVar's +-2 std band is drawn only where its solve converged (issue 20): a wrong minimum's or
a capped solve's Gauss-Newton posterior is narrow and far from the truth, so the page hides the band
and says why. Real problems of the issue's set-up (100-step window, obs every 8, noise std sqrt 2),
where the dashboard's Gauss-Newton 4DVar (cap 20) converges on some seeds and not on others."""

from __future__ import annotations

import math

import numpy as np
import pytest

import core
from dashboard.data import compute
from dashboard.data.compute import Settings
from dashboard.figures import plots
from dashboard.views.explore import legend_html

SHOWN = ("truth", "observations", "strong_4dvar")
# Seeds of this set-up and what Gauss-Newton 4DVar does on them (found by solving; asserted below
# against core's own solve, so a change in the problems makes the test say so rather than pass).
CONVERGED_SEED, CAPPED_SEED, WRONG_MINIMUM_SEED = 2, 0, 26


def _settings(seed: int) -> Settings:
    return Settings(window=100, obs_every=8, obs_noise=math.sqrt(2), seed=seed, methods=("strong_4dvar",))


def _solved(seed: int):
    settings = _settings(seed)
    status = int(core.strong_4dvar(compute.make_problem(settings), solver="gauss-newton", max_steps=20).status)
    experiment = compute.run_experiment(settings)
    figures = plots.ExploreFigures()
    figures.update(experiment, SHOWN)
    return status, experiment, figures, legend_html(experiment, SHOWN)


def test_a_converged_solve_gets_its_band_and_no_note():
    status, experiment, figures, legend = _solved(CONVERGED_SEED)
    assert status == core.STATUS_CONVERGED
    out = experiment.methods["strong_4dvar"]
    # The band is the analysis -+ 2 posterior stds, the posterior computed here apart from the page.
    problem = compute.make_problem(experiment.settings)
    std = np.asarray(core.posterior_std(np.asarray(out.trajectory[0], np.float32), problem))
    band = figures.band.data
    assert len(band["t"]) == len(experiment.t)
    np.testing.assert_allclose(band["x_hi"] - band["x_lo"], 4 * std[:, 0], rtol=1e-3, atol=1e-4)
    # Most truth points of the window lie inside it (the claim the band makes).
    n = experiment.settings.window + 1
    inside = (band["x_lo"][:n] <= experiment.truth[:n, 0]) & (experiment.truth[:n, 0] <= band["x_hi"][:n])
    assert inside.mean() > 0.8
    assert "band hidden" not in legend


@pytest.mark.parametrize(
    "seed, expected_status, reason",
    [
        (WRONG_MINIMUM_SEED, core.STATUS_WRONG_MINIMUM, "band hidden: 4DVar stopped at a wrong minimum"),
        (CAPPED_SEED, core.STATUS_MAX_STEPS, "band hidden: 4DVar hit its cap of 20 steps"),
    ],
)
def test_a_flagged_solve_gets_no_band_and_the_page_says_why(seed, expected_status, reason):
    status, experiment, figures, legend = _solved(seed)
    assert status == expected_status
    assert experiment.methods["strong_4dvar"].converged is False
    assert len(figures.band.data["t"]) == 0
    assert reason in legend


def test_a_band_drawn_before_is_taken_away_when_the_next_solve_is_flagged():
    _, converged, figures, _ = _solved(CONVERGED_SEED)
    _, flagged, _, _ = _solved(WRONG_MINIMUM_SEED)
    figures.update(flagged, SHOWN)
    assert len(figures.band.data["t"]) == 0
    figures.update(converged, SHOWN)
    assert len(figures.band.data["t"]) == len(converged.t)
    # Hidden with the method: no band and no note about it.
    assert "band hidden" not in legend_html(flagged, ("truth",))
