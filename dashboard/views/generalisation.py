"""The Generalisation tab: how FourDVarNets trained at one setting fare away from it.

It draws the generalisation sweep's results (read and shaped by `generalisation_data`, drawn by
`generalisation_figures`):

- a heatmap, train density (rows) x test density (columns), of each model's median rmse_assim over
  strong 4DVar's on the same test problems (log colour scale centred on 1, the ratio in each cell);
  a click on a cell loads that model and that test setting into the Explore tab;
- median rmse_assim (p10-p90 as whiskers) against the test density, the test noise and the observed
  components, one colour per model, strong 4DVar as the blue reference with its p10-p90 band.

Nothing here is numerics: the optional "Recompute (quick sweep)" button runs
`core.studies.sweep.sweep(QUICK_PLAN)` in a background thread (a `JobRunner`).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import panel as pn
import param
from panel.viewable import Viewer

from core.studies.sweep import QUICK_PLAN, sweep
from dashboard.data.compute import method_colors
from dashboard.data.generalisation_data import (
    AXIS_KEYS,
    MISMATCH_PATH,
    REFERENCE,
    ResultsError,
    check_payload,
    curve_data,
    densities_text,
    heatmap_data,
    load_mismatch,
    load_results,
    mixed_summary,
    model_label,
    results_path,
    usable_rows,
)
from dashboard.figures.generalisation_figures import (
    CURVE_WIDTH,
    DISTINCT_COLORS,
    HEATMAP_WIDTH,
    curve_figure,
    heatmap_figure,
    model_colors,
)
from dashboard.state.explore import COMPONENT_NAMES, ExperimentState
from dashboard.training.job_runner import JobRunner
from dashboard.training.jobs import BackgroundJob

log = logging.getLogger(__name__)

MISMATCH_TEXT = """
### Trained at one model error, tested at another

Here the methods' model is wrong: its rho differs from the truth's 28 (100-step windows, x, y, z every 8
steps, noise std sqrt 2; `python -m core.studies.model_error_sweep`). The reference is **weak-constraint
4DVar**, its model-error variance tuned at each rho. A FourDVarNet trained at rho 26 is best near 26 and lost
on the other side of the truth; one trained over rho 24 to 32 beats weak 4DVar wherever the model is wrong,
and loses to it only at 28, where there is no model error to learn.
"""

INTRO = """
### Does a learned solver work away from its training?

A FourDVarNet **learns** to solve the problems it was trained on. Here {n_solvers} solvers meet the same
{n} test problems: strong 4DVar (blue), which has no training and simply solves each problem, and
FourDVarNets trained at one observation density (every {densities} steps), on a **mix** of
densities, or on a mix of observed components.

**The heatmap**: each row is a model, each column the density it is *tested* at. The number is its
median error in the assimilation window divided by strong 4DVar's on the same problems: **1 means
as good as 4DVar** (white), above 1 worse (red), below 1 better (blue). Outlined cells are each
model's own training density. **Trained at one density, a learned solver degrades away from it;
trained on a mix it holds up.** *Click a cell* to open that model at that density in the Explore tab.

**The curves**: the same medians in absolute terms (log scale), the whiskers spanning the 10th to
90th percentile of the {n} problems; click a legend entry to hide a model.
"""


class SweepJob(BackgroundJob):
    """The quick sweep in a background thread, one at a time per server process."""

    what = "the quick sweep"
    thread_name = "l63-sweep"
    logger = log

    def __init__(self, run):
        self.run, self.payload = run, None
        self.lines: list[str] = []
        super().__init__()

    def work(self):
        self.payload = self.run()
        check_payload(self.payload, "the quick sweep")


def quick_sweep() -> dict:
    """`core.studies.sweep.sweep(QUICK_PLAN)` with the shipped models (evaluation only, ~a minute on 2 cores)."""
    return sweep(QUICK_PLAN, use_shipped=True)


class GeneralisationView(Viewer):
    """The heatmap and the three curve plots; a click on a cell loads it into the Explore tab."""

    state = param.ClassSelector(class_=ExperimentState)
    results = param.Parameter(default=None, doc="Path of the sweep's JSON (default: `results_path()`).")

    def __init__(self, on_pick=None, sweep_fn=quick_sweep, lazy: bool = False, **params):
        super().__init__(**params)
        self.on_pick = on_pick  # called after a cell was loaded into the state (the tab switch)
        self.sweep_fn = sweep_fn
        self.payload: dict | None = None
        self.source_label = ""
        self.heatmap = self.heatmap_source = self.heatmap_renderer = None
        self.curves: dict = {}
        self.intro = pn.pane.Markdown("", sizing_mode="stretch_width", max_width=1100)
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width")
        self.message = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width", margin=(5, 10)
        )
        # Something in the results could not be drawn, but the rest is: which rows, and why.
        self.note = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width", margin=(5, 10))
        self.picked = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.heatmap_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.density_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.noise_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.components_pane = pn.pane.Bokeh(None, margin=(0, 5))
        self.mismatch_pane = pn.pane.Bokeh(None, margin=(0, 5), visible=False)
        self.mismatch_text = pn.pane.Markdown(MISMATCH_TEXT, sizing_mode="stretch_width", max_width=1100, visible=False)
        self.runner = JobRunner(
            SweepJob,
            label="Recompute (quick sweep)",
            arguments=lambda: (self.sweep_fn,),
            busy="A sweep is already running on this server; try later.",
            started=lambda job: "<p>Running the quick sweep in the background...</p>",
            running=lambda job: f"<p>Running the quick sweep... {self.runner.seconds():.0f} s</p>",
            finished=self._sweep_finished,
            period_ms=500,
            button_type="default",
            idle='<div class="help">The figures come from the shipped sweep (no computation here). The quick '
            "sweep re-evaluates the shipped models on 64 fresh problems at fewer settings (about a minute).</div>",
        )
        if not lazy:  # lazy: the figures are built by `ensure_loaded()`, when the tab is first shown
            self.reload()
            self.load_mismatch()

    # -- data -------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the results file; on failure show a friendly message (the page keeps working)."""
        path = Path(self.results) if self.results is not None else results_path()
        try:
            payload = load_results(path)
        except ResultsError as exc:
            self.show_message(str(exc))
            return False
        self.load(payload, f"from {path.name}, {payload.get('n_problems', '?')} test problems")
        return True

    def ensure_loaded(self) -> None:
        """Build the figures if they were never built (a lazy view, shown for the first time)."""
        if self.payload is None and not self.message.visible:
            self.reload()
        if self.mismatch_pane.object is None:
            self.load_mismatch()

    def load_mismatch(self, path=MISMATCH_PATH) -> bool:
        """The model-error axis from the rho sweep's JSON; a missing or bad file hides it (said in the log)."""
        try:
            curves, labels = load_mismatch(path)
            figure = curve_figure(
                curves,
                "mismatch",
                model_colors([n for n in curves if n != REFERENCE]),
                labels,
                width=2 * CURVE_WIDTH,
                reference=labels[REFERENCE],
                reference_color=method_colors()["weak_4dvar"],
            )
        except ResultsError as exc:
            log.warning("the Generalisation tab shows no model-error axis: %s", exc)
            return False
        self.mismatch_pane.param.update(object=figure, visible=True)
        self.mismatch_text.visible = True
        return True

    def show_message(self, text: str):
        self.message.param.update(object=text, visible=True)
        self.heatmap_source = None
        for pane in (self.heatmap_pane, self.density_pane, self.noise_pane, self.components_pane):
            pane.visible = False

    def load(self, payload: dict, label: str = "") -> None:
        """Draw `payload` (a sweep's output): new figures, built once per load."""
        notes = []
        try:
            check_payload(payload)
            payload, skipped = usable_rows(payload)
            if skipped:
                shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
                notes.append(f"{len(skipped)} result row(s) could not be drawn and were left out: {shown}.")
            check_payload(payload)  # enough left to draw?
            data = heatmap_data(payload)
            names = data["models"]
            if len(names) > DISTINCT_COLORS:
                notes.append(
                    f"These results hold {len(names)} models; there are {DISTINCT_COLORS} distinct colours, "
                    "so some curves share a colour (hover a curve for its model)."
                )
            colors = model_colors(names)
            rows = payload["rows"]
            labels = {n: model_label(n, rows) for n in names}
            figures = {}
            for axis in AXIS_KEYS:
                curves = curve_data(payload, axis)
                figures[axis] = curve_figure(curves, axis, colors, labels) if curves else None
            heatmap, source, rect = heatmap_figure(data)
        except ResultsError as exc:
            self.show_message(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bad file must leave the rest of the page working
            log.exception("the sweep results could not be drawn")
            self.show_message(
                f"The sweep results could not be drawn ({exc.__class__.__name__}); is the file a sweep's output?"
            )
            return
        source.selected.on_change("indices", self._on_tap)
        self.payload, self.source_label = payload, label
        self.heatmap, self.heatmap_source, self.heatmap_renderer, self.curves = heatmap, source, rect, figures
        with pn.io.hold():
            self.message.visible = False
            self.note.param.update(object=" ".join(notes), visible=bool(notes))
            self.intro.object = INTRO.format(
                n=payload.get("n_problems", "the"), n_solvers=len(names) + 1, densities=densities_text(names)
            )
            summary = mixed_summary(payload)
            self.summary.object = (
                f'<div class="legend"><b>{html.escape(summary)}</b> '
                f'<span class="help">({html.escape(label)})</span></div>'
            )
            self.heatmap_pane.param.update(object=heatmap, visible=True)
            for axis, pane in (
                ("density", self.density_pane),
                ("noise", self.noise_pane),
                ("components", self.components_pane),
            ):
                pane.param.update(object=figures[axis], visible=figures[axis] is not None)

    # -- the click ---------------------------------------------------------------------------

    def _on_tap(self, attr, old, new):
        if not new:
            return
        try:
            self.pick(new[0])
        finally:
            self.heatmap_source.selected.indices = []  # so that clicking the same cell again works

    def pick(self, index: int) -> bool:
        """Load heatmap cell `index` into the state: its model, preset and test setting.

        An index that is no cell (a crafted selection from the browser) is refused with a message.
        """
        cols = self.heatmap_source.data
        n_cells = len(cols["model_key"])
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n_cells:
            self.picked.object = (
                f'<p class="bad">That cell cannot be opened: there is no cell {html.escape(repr(index)[:40])} '
                f"(the heatmap has {n_cells}).</p>"
            )
            return False
        key, label = cols["model_key"][index], cols["label"][index]
        every = int(cols["test_obs_every"][index])
        observed = [c for c in COMPONENT_NAMES if c in str(cols["test_observed"][index])]
        try:
            if key not in self.state.param.model.objects:
                self.state.refresh_models()
            if key not in self.state.param.model.objects:
                raise ValueError(f"its model file ({key.rsplit('/', 1)[-1]}) is not on this server")
            self.state.param.update(
                preset=self.payload.get("preset", "attractor"),
                model=key,
                obs_every=every,
                obs_noise=float(cols["test_obs_noise"][index]),
                observed=observed or list(COMPONENT_NAMES),
            )
        except ValueError as exc:
            self.picked.object = f'<p class="bad">That cell cannot be opened: {html.escape(str(exc))}</p>'
            return False
        self.picked.object = (
            f"<p>Opened in Explore: <b>{html.escape(label)}</b> tested at every {every} "
            f"(ratio {cols['ratio'][index]:.2f} over the {self.payload.get('n_problems')} "
            "problems; the Explore tab shows one of them).</p>"
        )
        if self.on_pick is not None:
            self.on_pick()
        return True

    # -- recompute ---------------------------------------------------------------------------

    def _sweep_finished(self, job: SweepJob) -> str:
        seconds = self.runner.seconds()
        self.load(
            job.payload,
            f"quick sweep computed now in {seconds:.0f} s, {job.payload.get('n_problems')} test problems",
        )
        return (
            f'<p class="good">Quick sweep done in {seconds:.0f} s; the figures show it '
            "(reload the page for the shipped sweep).</p>"
        )

    def __panel__(self):
        return pn.Column(
            self.intro,
            self.message,
            self.note,
            self.summary,
            pn.Row(pn.Column(self.heatmap_pane, self.picked, width=HEATMAP_WIDTH + 10), self.density_pane),
            pn.Row(self.noise_pane, self.components_pane),
            self.mismatch_text,
            self.mismatch_pane,
            self.runner,
            sizing_mode="stretch_width",
        )
