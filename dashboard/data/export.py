"""What the Explore tab exports and shows as numbers: the metrics rows, the CSV files, the PNG.

Pure functions of an `Experiment` (no Panel), so that the table, the CSV and the tests read the
same rows.
"""

from __future__ import annotations

import io
import math

import numpy as np

from dashboard.data.compute import Experiment, method_labels


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


# Runs in the browser: the time plots and the butterfly as Bokeh renders them, with the legend
# above and the settings and the metrics table below (read from the two HTML panes passed as
# `legend` and `table`), drawn on one canvas and downloaded as <settings>_figure.png.
PNG_JS = """
const grid = Bokeh.index.query_one((v) => v.model.type == "GridPlot");
const phase = Bokeh.index.query_one((v) => v.model.type == "Figure" && v.model.y_range.end > 50 &&
                                           v.model.x_range.start < -20);
if (grid == null) { return; }
// Panel keeps an HTML pane's text escaped: unescape it, then parse it.
const parser = new DOMParser();
const parse = (text) => {
  const raw = text.includes("<") ? text : parser.parseFromString(text, "text/html").documentElement.textContent;
  return parser.parseFromString(raw.replaceAll("<br>", " "), "text/html");
};
const legendDoc = parse(legend.text), tableDoc = parse(table.text);
const items = [...legendDoc.querySelectorAll(".legend-item")].map((el) => {
  const style = el.innerHTML;
  const color = (style.match(/#[0-9a-fA-F]{6}/) || ["#000000"])[0];
  const label = el.textContent.trim();
  return {label, color, cross: label.startsWith("\u2715"), dashed: style.includes("dashed")};
});
const tbl = tableDoc.querySelector("table");
const rows = tbl ? [...tbl.querySelectorAll("tr")].map((tr) => [...tr.children].map((c) => c.textContent.trim())) : [];
const cap = tbl ? tbl.querySelector("caption") : null;
const caption = cap ? cap.textContent : "";
const name = (tbl && tbl.dataset.name) || "l63_explore";
const a = grid.export("png").canvas;
const b = phase ? phase.export("png").canvas : null;
const pad = 16, line = 22;
const width = a.width + (b ? b.width + pad : 0) + 2 * pad;
const tableTop = pad + line * 2 + Math.max(a.height, b ? b.height : 0) + pad;
const height = tableTop + line * (rows.length + 3) + pad;
const out = document.createElement("canvas");
out.width = width; out.height = height;
const ctx = out.getContext("2d");
ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, width, height);
ctx.font = "15px sans-serif"; ctx.textBaseline = "middle";
let x = pad;
for (const it of items) {
  ctx.strokeStyle = it.color; ctx.fillStyle = it.color; ctx.lineWidth = 3;
  const label = it.label.replace(/^\\u2715\\s*/, "");
  if (it.cross) {
    ctx.font = "bold 15px sans-serif"; ctx.fillText("\\u2715", x + 4, pad + line / 2); ctx.font = "15px sans-serif";
  } else {
    ctx.setLineDash(it.dashed ? [6, 4] : []); ctx.beginPath(); ctx.moveTo(x, pad + line / 2);
    ctx.lineTo(x + 24, pad + line / 2); ctx.stroke(); ctx.setLineDash([]);
  }
  ctx.fillStyle = "#000000"; ctx.fillText(label, x + 30, pad + line / 2);
  x += 30 + ctx.measureText(label).width + 24;
}
ctx.drawImage(a, pad, pad + line * 2);
if (b) { ctx.drawImage(b, pad + a.width + pad, pad + line * 2); }
ctx.fillStyle = "#000000"; ctx.font = "14px sans-serif";
ctx.fillText("Settings: " + name.replace(/^l63_/, "").replaceAll("_", ", "), pad, tableTop);
const colX = [pad];
for (let i = 1; i < 8; i++) { colX.push(pad + 260 + (i - 1) * 150); }
rows.forEach((r, i) => {
  ctx.font = i == 0 ? "bold 14px sans-serif" : "14px sans-serif";
  r.forEach((cell, j) => ctx.fillText(cell, colX[Math.min(j, colX.length - 1)], tableTop + line * (i + 1)));
});
ctx.font = "12px sans-serif"; ctx.fillStyle = "#555555";
ctx.fillText(caption, pad, tableTop + line * (rows.length + 1));
out.toBlob((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name + "_figure.png";
  document.body.appendChild(link);
  link.click();
  link.remove();
});
"""
