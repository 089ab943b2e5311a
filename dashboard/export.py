"""What the Explore tab exports and shows as numbers: the metrics rows, the CSV files, the PNG.

Pure functions of an `Experiment` (no Panel), so that the table, the CSV and the tests read the
same rows.
"""

from __future__ import annotations

import io
import math

import numpy as np

from .compute import Experiment, method_labels


def fmt(value, digits: int = 3) -> str:
    """3 significant figures; '-' for missing or not-a-number."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def metrics_rows(experiment: Experiment) -> list[dict]:
    """One row per solved method: its label, RMSEs, predictability time, runtime and 4DVar status."""
    rows = []
    labels = method_labels()
    for m, out in experiment.methods.items():
        label = labels[m]
        if m == "fourdvarnet":
            label += f" (K={experiment.settings.n_steps})"
        rows.append(
            {
                "method": label,
                "rmse_assim": out.rmse_assim,
                "rmse_forecast": out.rmse_forecast,
                "rmse_total": out.rmse_total,
                "predictability_time": out.predictability_time,
                "runtime_ms": out.runtime_ms,
                "steps": out.num_steps,
                "status": out.status if out.status is not None else "",
                "converged": out.converged,
            }
        )
    return rows


def trajectories_csv(experiment: Experiment) -> str:
    """t, truth, observations (blank where none) and each method's trajectory, one row per time."""
    cols = {"t": experiment.t}
    for c, name in enumerate("xyz"):
        cols[f"truth_{name}"] = experiment.truth[:, c]
    n = experiment.t.shape[0]
    for c, name in enumerate("xyz"):
        obs = np.full(n, np.nan)
        idx = np.rint(experiment.obs_t[c] / (experiment.t[1] - experiment.t[0])).astype(int)
        obs[idx] = experiment.obs_values[c]
        cols[f"obs_{name}"] = obs
    for m in experiment.methods:
        for c, name in enumerate("xyz"):
            cols[f"{m}_{name}"] = experiment.methods[m].trajectory[:, c]
        cols[f"{m}_rmse"] = experiment.methods[m].rmse_trace
    out = io.StringIO()
    s = experiment.settings
    out.write(
        f"# preset={s.preset} obs_every={s.obs_every} obs_noise={s.obs_noise} "
        f"observed={''.join('xyz'[c] for c in s.observed)} seed={s.seed} K={s.n_steps} "
        f"max_steps={s.max_steps} model={s.model}\n"
    )
    out.write(",".join(cols) + "\n")
    table = np.column_stack(list(cols.values()))
    for row in table:
        out.write(",".join("" if not np.isfinite(v) else f"{v:.6g}" for v in row) + "\n")
    return out.getvalue()


def metrics_csv(experiment: Experiment) -> str:
    """The metrics table as CSV: a header, then one line per solved method."""
    rows = metrics_rows(experiment)
    keys = list(rows[0])
    out = io.StringIO()
    out.write(",".join(keys) + "\n")
    for row in rows:
        out.write(",".join("" if row[k] is None else str(row[k]) for k in keys) + "\n")
    return out.getvalue()


# Runs in the browser: Bokeh renders the time plots' grid to a PNG, which is downloaded.
PNG_JS = """
const view = Bokeh.index.query_one((v) => v.model.type == "GridPlot");
if (view == null) { return; }
view.export("png").to_blob().then((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "l63_explore.png";
  document.body.appendChild(link);
  link.click();
  link.remove();
});
"""
