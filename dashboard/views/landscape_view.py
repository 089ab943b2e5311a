"""The Landscape tab: 4DVar's cost J(x0) around the true x0, and where each solver walks on it.

It follows the sidebar (preset, density, noise, components, seed, window, model, K): slide the
window from 50 to 300 steps and the one round bowl breaks into narrow valleys, with Gauss-Newton
and BFGS stopping in a wrong one while the quasi-static 4DVar and FourDVarNet find the truth's.
The figure is built when the tab is first opened (`ensure_loaded`), and redrawn only while the tab
is shown: a change made elsewhere marks it stale and it is redrawn when the tab is opened again.
"""

from __future__ import annotations

import html
import logging

import panel as pn
import param
from panel.viewable import Viewer

from dashboard.data import landscape_data
from dashboard.data.landscape_data import EXTENT_BOUNDS, LABELS, PATH_COLORS, PLANES, WEAK, Grid, Paths
from dashboard.server.refusal import Refusals
from dashboard.state.explore import ExperimentState

log = logging.getLogger(__name__)

INTRO = (
    "4DVar picks the starting point x0 whose trajectory passes closest to the observations; J(x0) "
    "measures how far it misses them (dark: small, bright: large, on a log scale). The map is a slice "
    "through the true starting point (the star). The lines are where each solver walked from the "
    "background (the grey square), projected onto the slice; FourDVarNet's dots are its first state "
    "after each of its K steps. Lengthen the window in the sidebar and watch the bowl break into valleys."
)
WEAK_CAPTION = (
    "The map is strong 4DVar's cost, in the methods' model. Weak 4DVar is drawn by its first state x0 "
    "after each step: it adjusts the whole trajectory and pays for model error instead, so it need not "
    "follow these valleys (set the sidebar's model rho away from 28 to see strong 4DVar held in the "
    "wrong model's valley)."
)
MODEL_ERROR_CAPTION = (
    "Model error is on: the methods' model is not the truth's, so a path may end below the truth's cost "
    "(not green: the wrong model's valley can fit these observations better than the true start does) "
    "and still be far from the star."
)
WRONG_FACTOR = 3.0  # a path ending at more than this times J(truth) is said to be in a wrong valley


class LandscapeSettings(param.Parameterized):
    """The slice: which plane, and how far from the truth, in background standard deviations."""

    plane = param.Selector(default="x-z", objects=list(PLANES), label="Plane", doc="Which two components vary.")
    extent = param.Number(
        default=3.0,
        bounds=EXTENT_BOUNDS,
        step=0.25,
        label="Extent (background stds either side of the truth)",
        doc="Half the width of the map, in units of the background's standard deviation.",
    )


def summary_html(grid: Grid, paths: Paths) -> str:
    """Each path's colour, where it stopped and its final J against the truth's (red: a wrong valley)."""
    items = [
        '<span class="legend-item"><span style="font-size:15px">&#9733;</span> truth '
        f"(J = {paths.truth_cost:.3g})</span>",
        '<span class="legend-item"><span style="color:#888">&#9632;</span> background</span>',
    ]
    for name in paths.paths:
        label = html.escape(LABELS[name])
        swatch = f'<span class="swatch" style="background:{PATH_COLORS[name]}"></span>'
        if paths.failed_at_first_step(name):  # it never left the background: no end to speak of
            items.append(
                f'<span class="legend-item">{swatch}{label}: <span class="bad">failed at the first step</span></span>'
            )
            continue
        final = paths.final_cost[name]
        ratio = final / max(paths.truth_cost, 1e-12)
        verdict = f"{ratio:.3g} x the truth's"
        css = "bad" if ratio > WRONG_FACTOR else "good"
        if paths.model_error and name != "fourdvarnet":  # a low J is no sign of a right answer there
            css = "bad" if ratio > WRONG_FACTOR else ""
        if name in paths.wrong_minimum:  # its own cost's verdict, not the strong cost's ratio
            wrong = paths.wrong_minimum[name]
            verdict += "; its chi-square test: " + ("a wrong minimum" if wrong else "fits the data")
            css = "bad" if wrong else ("good" if not paths.capped.get(name, False) else "")
        items.append(
            f'<span class="legend-item">{swatch}{label}: {paths.outcome(name)}, ends at J = {final:.3g} '
            f'(<span class="{css}">{verdict}</span>)</span>'
        )
    note = (
        f'<div class="help">Red: the path ended at more than {WRONG_FACTOR:g} times the cost at the truth, '
        f"in another valley. Grid {grid.cost.shape[0]} x {grid.cost.shape[1]}, computed in "
        f"{grid.compute_ms:.0f} ms.</div>"
    )
    if WEAK in paths.paths:
        note += f'<div class="help weak-caption">{html.escape(WEAK_CAPTION)}</div>'
    if paths.model_error:
        note += f'<div class="help model-error-caption">{html.escape(MODEL_ERROR_CAPTION)}</div>'

    return '<div class="legend landscape-summary">' + "<br>".join(items) + "</div>" + note


class LandscapeView(Viewer):
    """The slice's controls, the figure and a summary of where each solver ended."""

    state = param.ClassSelector(class_=ExperimentState)

    def __init__(self, **params):
        super().__init__(**params)
        self.slice = LandscapeSettings()
        self.figure = None  # built on first show
        self.visible_now = False
        self.stale = True
        self.plane = pn.widgets.RadioButtonGroup.from_param(
            self.slice.param.plane, button_type="primary", button_style="outline"
        )
        self.extent = pn.widgets.FloatSlider.from_param(self.slice.param.extent, throttled=True, width=320)
        self.refusals = Refusals()  # every value the browser sends is checked before it is applied
        self.refusals.guard(self.plane, self.slice, "plane")
        self.refusals.guard(self.extent, self.slice, "extent")
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.plot = pn.pane.Bokeh(None, sizing_mode="stretch_width", margin=(0, 5))
        self.slice.param.watch(lambda *events: self.redraw(), ["plane", "extent"])
        self.state.param.watch(self._on_state, ["experiment", "error"])

    def show(self, visible: bool) -> None:
        """Called when the tabs change: build and draw on first show, redraw if settings changed meanwhile."""
        self.visible_now = visible
        if visible and (self.figure is None or self.stale):
            self.redraw()

    def ensure_loaded(self) -> None:
        self.show(True)

    def _on_state(self, *events) -> None:
        self.stale = True
        if self.visible_now:
            self.redraw()

    def redraw(self) -> tuple[Grid, Paths] | None:
        """Recompute (cached) and draw for the sidebar's settings and this slice; a bad setting is said."""
        try:
            settings = self.state.settings()
            grid = landscape_data.grid(settings, self.slice.plane, self.slice.extent)
            paths = landscape_data.paths(settings)
        except ValueError as exc:
            self.message.param.update(object=f"No landscape for these settings: {html.escape(str(exc))}", visible=True)
            return None
        except Exception as exc:  # noqa: BLE001 - a student never sees a traceback
            log.exception("computing the landscape failed")
            self.message.param.update(
                object=f"The landscape could not be computed ({exc.__class__.__name__}); try other settings.",
                visible=True,
            )
            return None
        if self.figure is None:
            from dashboard.figures.landscape_figures import LandscapeFigure

            self.figure = LandscapeFigure()
            self.figure.update(grid, paths)
            self.plot.object = self.figure.figure
        else:
            with pn.io.hold():
                self.figure.update(grid, paths)
        self.summary.object = summary_html(grid, paths)
        self.message.visible = False
        self.stale = False
        return grid, paths

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML(f'<div class="help" style="font-size:13px">{html.escape(INTRO)}</div>', margin=(4, 10)),
            pn.Row(self.plane, self.extent, align="center"),
            self.refusals.banner,
            self.message,
            self.summary,
            self.plot,
            sizing_mode="stretch_width",
        )
