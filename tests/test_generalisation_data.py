"""The Generalisation tab's data without Panel or a browser: reading the sweep's JSON (once per file
version), refusing what is not a sweep's output, and shaping the rows for the figures, checked
against the rows of a payload whose numbers are known (`support.known_payload`)."""

from __future__ import annotations

import json
import math
import os

import pytest
from support import KNOWN, PRESET, REFERENCE_RMSE, TESTS, known_payload
from support import sweep_row as _row

from dashboard.data import generalisation_data as data


def test_results_are_parsed_once_per_file_version(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(known_payload()))
    first = data.load_results(path)
    assert data.load_results(str(path)) is first  # the cached parse, shared by every session
    changed = known_payload()
    changed["n_problems"] = 99
    path.write_text(json.dumps(changed))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new version of the file
    second = data.load_results(path)
    assert second is not first and second["n_problems"] == 99


def test_the_results_path_can_be_pointed_elsewhere(tmp_path, monkeypatch):
    monkeypatch.delenv(data.RESULTS_ENV, raising=False)
    assert data.results_path() == data.RESULTS_PATH
    monkeypatch.setenv(data.RESULTS_ENV, str(tmp_path / "other.json"))
    assert data.results_path() == tmp_path / "other.json"


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"rows": []}, "no sweep rows"),
        ([1, 2, 3], "no sweep rows"),
        ({"rows": [{"model": "every5"}]}, "lacks axis"),
        ({"rows": [{**_row("density", "every5", 1.0, 0.1), "ratio_to_4dvar": True}]}, "non-numeric ratio_to_4dvar"),
        ({"rows": [_row("density", "every5", 1.0, 0.1)]}, "no strong 4DVar"),
    ],
)
def test_what_is_not_a_sweeps_output_is_refused(payload, words):
    with pytest.raises(data.ResultsError, match=words):
        data.check_payload(payload, "x.json")


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(data.ResultsError, match="python -m core sweep --json"):
        data.load_results(tmp_path / "nowhere.json")


def test_heatmap_cells_are_the_density_rows():
    payload = known_payload()
    shaped = data.heatmap_data(payload)
    cols = shaped["columns"]
    assert shaped["tests"] == [str(t) for t in TESTS]
    assert shaped["models"] == ["every2", "every10", "mixed_every", "mixed_components"]
    assert shaped["labels"] == [
        "trained every 2",
        "trained every 10",
        "mixed densities 2-25",
        "mixed components (every 5)",
    ]
    expected = [
        (model, every, ratios[j], train == every)
        for (model, train, _), ratios in KNOWN.items()
        for j, every in enumerate(TESTS)
    ]
    expected.sort(key=lambda e: (shaped["models"].index(e[0]), e[1]))
    got = list(zip(cols["model"], cols["test_obs_every"], cols["ratio"], cols["own"], strict=True))
    assert got == [(m, e, r, int(own)) for m, e, r, own in expected]
    for i, (_, every, ratio, own) in enumerate(expected):
        assert cols["rmse"][i] == pytest.approx(ratio * REFERENCE_RMSE[every], rel=1e-12)
        assert cols["rmse_4dvar"][i] == REFERENCE_RMSE[every]
        assert cols["line_width"][i] == (3.0 if own else 0.5)
        assert cols["model_key"][i].startswith("assets/sweep/") and PRESET in cols["model_key"][i]
    # The colour scale is the widest ratio (6.0 or 1/0.8), with 5 % room: dark ends get white text.
    assert shaped["span"] == pytest.approx(6.0 * 1.05)
    white = {r for r, c in zip(cols["ratio"], cols["text_color"], strict=True) if c == "#ffffff"}
    assert (
        white
        == {r for r in cols["ratio"] if abs(math.log(r)) > 0.6 * math.log(shaped["span"])}
        == {
            4.0,
            6.0,
            3.25,
        }
    )


def test_ratio_span_is_clamped_and_ignores_what_is_not_a_ratio():
    assert data.ratio_span([1.0, 1.1]) == 2.0  # at least 1/2 to 2
    assert data.ratio_span([1e4]) == 50.0  # at most 1/50 to 50
    assert data.ratio_span([0.25, float("nan"), -1.0, "x"]) == pytest.approx(4 * 1.05)


def test_curves_follow_each_axis_in_test_order():
    payload = known_payload()
    payload["rows"].reverse()  # the order of the rows in the file does not matter
    curves = data.curve_data(payload, "noise")
    assert list(curves) == ["strong_4dvar", "every2", "every10", "mixed_every", "mixed_components"]
    assert curves["strong_4dvar"]["x"] == [0.25, 1.0]
    assert curves["strong_4dvar"]["median"] == [0.25 / 4, 1.0 / 4]
    assert curves["every2"]["p90"] == pytest.approx([1.7 * 1.5 * 0.25 / 4, 1.7 * 1.5 * 1.0 / 4])
    assert data.curve_data(payload, "components")["every10"]["x"] == ["x", "xyz"]  # as in the file
    assert data.curve_data({"rows": []}, "density") == {}


def test_model_names_and_labels():
    rows = known_payload()["rows"]
    assert data.model_order(rows) == ["every2", "every10", "mixed_every", "mixed_components"]
    assert data.model_label("every20") == "trained every 20"
    assert data.model_label("odd", [{"model": "odd", "train_obs_every": 7}]) == "odd (every 7)"
    assert data.densities_text(["every20", "every2", "every5", "mixed_every"]) == "2, 5 or 20"
    assert data.densities_text(["every5"]) == "5" and data.densities_text([]) == "N"


def test_the_mixed_models_verdict_comes_from_its_worst_cell():
    payload = known_payload()  # mixed_every: 1.4, 1.3, 1.333 at every 2, 5, 10
    assert data.mixed_summary(payload).startswith("The mixed-density model is within 1.5x")
    assert "(its worst: 1.40x at every 2)" in data.mixed_summary(payload)
    for row in payload["rows"]:
        if row["model"] == "mixed_every" and row["axis"] == "density" and row["test_obs_every"] == 10:
            row["ratio_to_4dvar"] = 1.9
    assert "is not within 1.5x" in data.mixed_summary(payload) and "1.90x at every 10" in data.mixed_summary(payload)
    payload["rows"] = [r for r in payload["rows"] if r["model"] != "mixed_every"]
    assert data.mixed_summary(payload) == ""


def test_the_model_error_axis_reads_the_rho_sweep_with_weak_4dvar_as_its_reference():
    import json
    import math

    from dashboard.data.generalisation_data import MISMATCH_PATH, REFERENCE, ResultsError, mismatch_curves

    payload = json.loads(MISMATCH_PATH.read_text())
    curves, labels = mismatch_curves(payload)
    assert labels[REFERENCE].startswith("weak 4DVar") and "weak_4dvar" not in curves
    rows = sorted(payload["rows"], key=lambda r: r["model_rho"])
    assert curves[REFERENCE]["x"] == [r["model_rho"] for r in rows] == sorted(curves[REFERENCE]["x"])
    # The curves are the study's medians: the mixed model over weak 4DVar is the README's ratio at each rho.
    for i, row in enumerate(rows):
        ratio = curves["fourdvarnet_mixed"]["median"][i] / curves[REFERENCE]["median"][i]
        assert math.isclose(ratio, row["ratio_mixed_to_weak"], rel_tol=1e-9)
    broken = json.loads(MISMATCH_PATH.read_text())
    broken["rows"][3]["weak_4dvar"]["median"] = float("nan")
    with pytest.raises(ResultsError, match="not a finite number at weak_4dvar"):
        mismatch_curves(broken)
    with pytest.raises(ResultsError, match="no rows"):
        mismatch_curves({"rows": []})
