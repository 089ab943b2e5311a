"""A wrong minimum is shown as such: red in the dashboard's table, "NO (wrong minimum)" in the CLI's
tables (red on a terminal only)."""

from __future__ import annotations

import io

from core.cli.terminal import RED, use_colour
from core.da.method import STATUS_WORDS, STATUS_WRONG_MINIMUM
from core.studies.reproduce import format_table
from core.studies.windows import format_windows
from dashboard.data import compute
from dashboard.data.compute import Settings
from dashboard.views.explore import legend_html, table_html

WRONG = STATUS_WORDS[STATUS_WRONG_MINIMUM]


def test_a_long_window_turns_gauss_newton_red_in_the_dashboard_table_with_the_verdict_words():
    # Seed 1, 100 steps, cap 50: Gauss-Newton stops (its step is small) at a cost the noise cannot
    # explain; at 50 steps the same problem converges to the right answer.
    long = compute.run_experiment(Settings(window=100, max_steps=50, seed=1, methods=("strong_4dvar",)))
    out = long.methods["strong_4dvar"]
    assert out.converged is False and out.status == WRONG and out.rmse_assim > 1.0
    html = table_html(long, ("strong_4dvar",))
    assert f'<span class="bad">{WRONG}</span>' in html
    assert "NOT converged" in legend_html(long, ("strong_4dvar",))
    short = compute.run_experiment(Settings(window=50, max_steps=50, seed=1, methods=("strong_4dvar",)))
    assert short.methods["strong_4dvar"].converged is True
    assert 'class="bad"' not in table_html(short, ("strong_4dvar",))


def _payload(converged, status):
    row = dict(rmse_assim=14.2, rmse_forecast=13.0, rmse_total=13.1, runtime_ms=0.2, train_time_s=None)
    return {
        "preset": "attractor",
        "key": 1,
        "obs_every": 8,
        "obs_noise": 1.41,
        "observed": "xyz",
        "methods": {"strong_4dvar": {**row, "converged": converged, "status": status}},
    }


def test_the_reproduce_table_says_no_wrong_minimum_and_colours_only_when_asked():
    plain = format_table(_payload(False, WRONG))
    assert "NO (wrong minimum)" in plain and WRONG in plain and "\x1b[" not in plain
    coloured = format_table(_payload(False, WRONG), colour=True)
    assert f"{RED}  NO (wrong minimum)" in coloured and coloured.count(RED) == 2  # the cell and the words
    assert "\x1b[" not in format_table(_payload(True, STATUS_WORDS[0]), colour=True)  # nothing red to say
    assert "NO (iteration cap)" in format_table(_payload(False, STATUS_WORDS[1]))


def test_the_windows_table_colours_a_flagged_share_only_on_a_terminal():
    rows = [
        {
            "window": 200,
            "label": "4DVar, Gauss-Newton",
            "median_rmse": 14.6,
            "share_above_1": 1.0,
            "share_flagged": 1.0,
        },
        {"window": 200, "label": "4DVar, quasi-static", "median_rmse": 0.2, "share_above_1": 0.0, "share_flagged": 0.0},
    ]
    payload = {
        "setup": {"n_problems": 64, "obs_every": 8, "obs_noise": 1.41, "scored_steps": "10..T-10"},
        "device": "cpu",
        "rows": rows,
        "missing_models": [],
    }
    assert "\x1b[" not in format_windows(payload)  # a pipe or the README: plain Markdown
    coloured = format_windows(payload, colour=True)
    assert f"{RED}100%" in coloured and coloured.count(RED) == 1  # only the flagged share above 0
    assert not use_colour(io.StringIO())  # a file is not a terminal
