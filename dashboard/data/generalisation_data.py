"""The Generalisation tab's data: the sweep's results, read, checked and shaped for the figures.

Pure functions, no Panel or Bokeh (tests/test_generalisation_data.py tests them without a browser).
The results are the JSON of `python -m core sweep --json` (`core.studies.sweep.sweep`'s payload), shipped
as `assets/models/sweep/results.json`; nothing is computed at page load. One row per (axis, model,
test setting): the median, 10th and 90th percentile of rmse_assim over the test problems, and the
ratio of the median to strong 4DVar's on the same problems.
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

from core.nets.model_files import SHIPPED_MODELS
from core.studies.sweep import SHIPPED
from dashboard.training.models import sweep_model_key

# The shipped results; a teacher may point the page at another sweep's JSON with this variable.
RESULTS_ENV = "L63_SWEEP_RESULTS"
RESULTS_PATH = SHIPPED / "results.json"
REFERENCE = "strong_4dvar"
REQUIRED = (
    "axis",
    "model",
    "test_obs_every",
    "test_obs_noise",
    "test_observed",
    "rmse_assim_median",
    "rmse_assim_p10",
    "rmse_assim_p90",
    "ratio_to_4dvar",
)
AXIS_KEYS = {"density": "test_obs_every", "noise": "test_obs_noise", "components": "test_observed"}


class ResultsError(ValueError):
    """The results file is missing or unusable; the message is meant for a student."""


def results_path() -> Path:
    """Where this server reads the sweep's results: `$L63_SWEEP_RESULTS` or the shipped file."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_PATH)


_cache: dict[str, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def load_results(path: Path | str) -> dict:
    """The sweep payload at `path`, checked; parsed once per file version for all sessions.

    Raises:
        ResultsError: missing, unreadable, not JSON, or not a sweep's payload.
    """
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ResultsError(
            f"No sweep results at {path}. Compute them with `python -m core sweep --json > {path}` "
            "(or press “Recompute (quick sweep)” below)."
        ) from None
    with _cache_lock:
        hit = _cache.get(str(path))
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"The sweep results in {path.name} could not be read ({exc.__class__.__name__}).") from None
    check_payload(payload, path.name)
    with _cache_lock:
        _cache[str(path)] = (mtime, payload)
    return payload


def check_payload(payload, name: str = "the results") -> None:
    """Raise `ResultsError` unless `payload` looks like `core.studies.sweep.sweep(...)`'s output."""
    rows = payload.get("rows") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ResultsError(f"{name} holds no sweep rows (expected the JSON of `python -m core sweep --json`).")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or any(k not in row for k in REQUIRED):
            missing = [k for k in REQUIRED if not isinstance(row, dict) or k not in row]
            raise ResultsError(f"{name}: row {i} lacks {', '.join(missing)}; is it a sweep's output?")
        for k in ("rmse_assim_median", "rmse_assim_p10", "rmse_assim_p90", "ratio_to_4dvar"):
            if not isinstance(row[k], (int, float)) or isinstance(row[k], bool):
                raise ResultsError(f"{name}: row {i} has a non-numeric {k} ({row[k]!r}).")
    if not any(r["axis"] == "density" and r["model"] == REFERENCE for r in rows):
        raise ResultsError(f"{name} has no strong 4DVar reference on the density axis.")


def usable_rows(payload: dict) -> tuple[dict, list[str]]:
    """The payload without the rows whose test setting or numbers cannot be drawn, and why each went.

    A crafted or damaged file (e.g. `"test_obs_every": Infinity`, a negative noise, a density that is
    not a whole number) loses those rows only: the rest of the tab still draws.
    """
    kept, notes = [], []
    for i, row in enumerate(payload["rows"]):
        why = _row_problem(row)
        if why is None:
            kept.append(row)
        else:
            notes.append(f"row {i} ({row.get('model')!s:.40}): {why}")
    return {**payload, "rows": kept}, notes


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _row_problem(row: dict) -> str | None:
    every, noise = row["test_obs_every"], row["test_obs_noise"]
    if not _finite(every) or every != int(every) or not 1 <= every <= 1000:
        return f"test_obs_every {every!r} is not a whole number of steps"
    if not _finite(noise) or noise < 0:
        return f"test_obs_noise {noise!r} is not a noise level"
    if not isinstance(row["model"], str) or not isinstance(row["axis"], str):
        return "its model or axis is not a name"
    for k in ("rmse_assim_median", "rmse_assim_p10", "rmse_assim_p90", "ratio_to_4dvar"):
        if isinstance(row[k], (int, float)) and math.isinf(row[k]):
            return f"{k} is infinite"
    return None


def model_order(rows) -> list[str]:
    """The models of the rows, 4DVar excluded: every<N> by N, then the mixed ones, then the rest."""
    names = list(dict.fromkeys(r["model"] for r in rows if r["model"] != REFERENCE))

    def key(name):
        if name.startswith("every") and name[5:].isdigit():
            return (0, int(name[5:]), name)
        if name == "mixed_every":
            return (1, 0, name)
        return (2, 0, name)

    return sorted(names, key=key)


def model_label(name: str, rows=()) -> str:
    """What a model was trained on, short: "trained every 5", "mixed densities 2-25", ..."""
    row = next((r for r in rows if r["model"] == name), {})
    every, observed = row.get("train_obs_every"), str(row.get("train_observed") or "")
    if isinstance(every, str) and every.startswith("mixed:"):
        values = every[len("mixed:") :].split("/")
        return f"mixed densities {values[0]}-{values[-1]}"
    if "/" in observed:
        return f"mixed components (every {every})" if every is not None else "mixed components"
    if name.startswith("every") and name[5:].isdigit():
        return f"trained every {name[5:]}"
    if every is not None:
        return f"{name} (every {every})"
    return name


def densities_text(names) -> str:
    """ "2, 5, 10 or 20": the single training densities among the model names."""
    single = [str(n) for n in sorted(int(m[5:]) for m in names if m.startswith("every") and m[5:].isdigit())]
    if len(single) < 2:
        return single[0] if single else "N"
    return ", ".join(single[:-1]) + " or " + single[-1]


def text_color(ratio: float, span: float) -> str:
    """White text on the dark ends of the colour scale, black elsewhere."""
    return "#ffffff" if abs(math.log(max(ratio, 1e-12))) > 0.6 * math.log(span) else "#000000"


def ratio_span(ratios) -> float:
    """The colour scale runs from 1/span to span (centred on 1 in log): the data's widest ratio."""
    finite = [r for r in ratios if isinstance(r, (int, float)) and r > 0 and math.isfinite(r)]
    widest = max((max(r, 1 / r) for r in finite), default=2.0)
    return float(min(max(widest * 1.05, 2.0), 50.0))


def heatmap_data(payload: dict) -> dict:
    """The heatmap's cells, one per (model, test density) of the density axis, 4DVar excluded.

    Returns a dict of columns (for a `ColumnDataSource`): model, label (the row's factor), test
    (the column's factor, a string), test_obs_every, test_obs_noise, test_observed, ratio,
    ratio_text, rmse, rmse_4dvar, own (1 where the model was trained at that density), model_key,
    line_width, text_color. Plus "models", "labels", "tests" (the factors in order) and "span".
    """
    rows = [r for r in payload["rows"] if r["axis"] == "density"]
    reference = {r["test_obs_every"]: r for r in rows if r["model"] == REFERENCE}
    tests = sorted({r["test_obs_every"] for r in rows}, key=float)
    names = model_order(rows)
    labels = {n: model_label(n, rows) for n in names}
    preset = payload.get("preset", "attractor")
    span = ratio_span([r["ratio_to_4dvar"] for r in rows if r["model"] != REFERENCE])
    cols = {
        k: []
        for k in (
            "model",
            "label",
            "test",
            "test_obs_every",
            "test_obs_noise",
            "test_observed",
            "ratio",
            "ratio_text",
            "rmse",
            "rmse_4dvar",
            "own",
            "model_key",
            "line_width",
            "text_color",
        )
    }
    order = {n: i for i, n in enumerate(names)}
    for r in sorted(
        (r for r in rows if r["model"] != REFERENCE), key=lambda r: (order[r["model"]], float(r["test_obs_every"]))
    ):
        ratio = float(r["ratio_to_4dvar"])
        own = r.get("train_obs_every") == r["test_obs_every"]
        cols["model"].append(r["model"])
        cols["label"].append(labels[r["model"]])
        cols["test"].append(str(r["test_obs_every"]))
        cols["test_obs_every"].append(int(r["test_obs_every"]))
        cols["test_obs_noise"].append(float(r["test_obs_noise"]))
        cols["test_observed"].append(str(r["test_observed"]))
        cols["ratio"].append(ratio)
        cols["ratio_text"].append(f"{ratio:.2f}" if math.isfinite(ratio) else "-")
        cols["rmse"].append(float(r["rmse_assim_median"]))
        ref = reference.get(r["test_obs_every"])
        cols["rmse_4dvar"].append(float(ref["rmse_assim_median"]) if ref else float("nan"))
        cols["own"].append(int(own))
        cols["model_key"].append(sweep_model_key(preset, r["model"]))
        cols["line_width"].append(3.0 if own else 0.5)
        cols["text_color"].append(text_color(ratio, span))
    return {
        "columns": cols,
        "models": names,
        "labels": [labels[n] for n in names],
        "tests": [str(t) for t in tests],
        "span": span,
    }


def curve_data(payload: dict, axis: str) -> dict[str, dict[str, list]]:
    """model -> {x, median, p10, p90} along `axis` ("density", "noise" or "components"), in test order."""
    key = AXIS_KEYS[axis]
    rows = [r for r in payload["rows"] if r["axis"] == axis]
    out: dict[str, dict[str, list]] = {}
    for name in [REFERENCE, *model_order(rows)]:
        mine = [r for r in rows if r["model"] == name]
        if axis != "components":
            mine.sort(key=lambda r: float(r[key]))
        if mine:
            out[name] = {
                "x": [r[key] if axis == "components" else float(r[key]) for r in mine],
                "median": [float(r["rmse_assim_median"]) for r in mine],
                "p10": [float(r["rmse_assim_p10"]) for r in mine],
                "p90": [float(r["rmse_assim_p90"]) for r in mine],
            }
    return out


def mixed_summary(payload: dict) -> str:
    """One sentence on the mixed-density model, from the data: its worst ratio over densities 2-20."""
    cells = [
        r
        for r in payload["rows"]
        if r["axis"] == "density" and r["model"] == "mixed_every" and 2 <= float(r["test_obs_every"]) <= 20
    ]
    if not cells:
        return ""
    worst = max(cells, key=lambda r: r["ratio_to_4dvar"])
    verdict = "within" if worst["ratio_to_4dvar"] <= 1.5 else "not within"
    return (
        f"The mixed-density model is {verdict} 1.5x of strong 4DVar at every test density from 2 to 20 "
        f"(its worst: {worst['ratio_to_4dvar']:.2f}x at every {worst['test_obs_every']})."
    )


# The model-error axis: `python -m core.studies.model_error_sweep --json` (the methods' rho against the truth's 28),
# shipped beside the models; weak 4DVar (q tuned per rho) is its reference, drawn where strong 4DVar is above.
MISMATCH_PATH = SHIPPED_MODELS / "model_error_sweep.json"
MISMATCH_REFERENCE = "weak_4dvar"


def mismatch_curves(payload) -> tuple[dict[str, dict[str, list]], dict[str, str]]:
    """(name -> {x, median, p10, p90} along the methods' rho, name -> label) from the rho sweep's payload;
    the reference (weak 4DVar) under the key `REFERENCE`, so that the curve plot draws it as its baseline.

    Raises:
        ResultsError: not a rho sweep's payload, or a number that is not finite.
    """
    rows = payload.get("rows") if isinstance(payload, dict) else None
    labels = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or not rows or not isinstance(labels, dict) or MISMATCH_REFERENCE not in labels:
        raise ResultsError(
            "The model-error results hold no rows (expected `python -m core.studies.model_error_sweep`)."
        )
    curves: dict[str, dict[str, list]] = {}
    for name in labels:
        curve = {"x": [], "median": [], "p10": [], "p90": []}
        for row in sorted(rows, key=lambda r: r.get("model_rho", 0) if isinstance(r, dict) else 0):
            cell = row.get(name) if isinstance(row, dict) else None
            if cell is None:
                continue
            values = [
                row.get("model_rho"),
                *(cell.get(k) if isinstance(cell, dict) else None for k in ("median", "p10", "p90")),
            ]
            if not all(_finite(v) for v in values):
                raise ResultsError(f"The model-error results have a value that is not a finite number at {name}.")
            for key, value in zip(("x", "median", "p10", "p90"), values, strict=True):
                curve[key].append(float(value))
        if curve["x"]:
            curves[REFERENCE if name == MISMATCH_REFERENCE else name] = curve
    names = {REFERENCE if n == MISMATCH_REFERENCE else n: str(label) for n, label in labels.items()}
    return curves, names


def load_mismatch(path: Path | str = MISMATCH_PATH) -> tuple[dict, dict]:
    """`mismatch_curves` of the JSON at `path`. Raises `ResultsError` (a message for the page)."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(
            f"No model-error results could be read from {Path(path).name} ({exc.__class__.__name__})."
        ) from None
    return mismatch_curves(payload)
