"""The classroom dashboard: `panel serve dashboard/app.py` from the repository root.

Importing this module has no side effects: the page is built only when Panel serves it
(`if pn.state.served:` at the bottom). Until this server process has warmed up (JAX and the
solvers imported, the first problem solved), a page is a light one that shows the progress and
reloads itself when the full page is ready (`dashboard/server/serving.py`); the README's command
prepares it before the server answers (`--setup dashboard/server/serving.py`). For a classroom, warm every
path first with `panel serve dashboard/app.py --setup dashboard/server/warmup.py` (see `dashboard/server/warmup.py`).

The page is one `ExperimentState` per session (`state.py`) with thin views over it: the sidebar
(`controls.py`) and the Explore, Train, Generalisation and About tabs (`explore.py`, `train.py`,
`generalisation.py`, `about.py`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from functools import partial
from pathlib import Path

try:
    import dashboard  # noqa: F401
except ImportError:  # served from a checkout that is not installed: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import panel as pn
import param
from panel.io.state import set_curdoc
from panel.viewable import Viewer

from dashboard.server import serving
from dashboard.views.page_assets import CSS, CSS_VALUE_CACHE_JS, META_VIEWPORT, NARROW_JS, PAGE_CSS, PRESENT_JS

# Served, this file is only the entry point (bottom): the page itself is built by the imported
# module `dashboard.app`, once this process is warm. So the served script imports nothing slow (JAX,
# the solvers, HoloViews: seconds), and a page can be sent at once while they load (serving.py).
if not pn.state.served:
    from dashboard.data.jitcache import enable_compilation_cache
    from dashboard.server import teacher, warmup
    from dashboard.state.cycle import CYCLE_URL_PARAMETERS, CycleState
    from dashboard.state.explore import ExperimentState
    from dashboard.training.model_watch import ModelListWatcher
    from dashboard.training.models import registry
    from dashboard.training.owners import cookie_owner
    from dashboard.views.about import AboutView
    from dashboard.views.controls import Controls
    from dashboard.views.cycle_view import CycleView
    from dashboard.views.explore import ExploreView
    from dashboard.views.generalisation import GeneralisationView
    from dashboard.views.landscape_view import LandscapeView
    from dashboard.views.page_setup import FirstSolve, attach_frozen, exception_handler
    from dashboard.views.train import TrainView

log = logging.getLogger("dashboard")

TITLE = "Learned DA: 4DVar vs FourDVarNet"
HEADER_BACKGROUND = "#2f3e5c"
MODEL_LIST_POLL_MS = 5000  # how often this process looks for models trained elsewhere (model_watch.py)
# The tabs after Explore (attribute of the view -> the tab's title), built on first opening.
LAZY_TABS = {
    "train": "Train",
    "generalisation": "Generalisation",
    "landscape": "Landscape",
    "cycle": "Cycle",
    "about": "About",
}
GENERALISATION_TAB, LANDSCAPE_TAB, CYCLE_TAB = 2, 3, 4  # their indices in the tabs
LORENZ63_ONLY = (
    "Lorenz-63 only for now: this tab runs Lorenz-63 with its own settings (choose Lorenz-63 in the sidebar to "
    "change them). Lorenz-96 is shown in the Explore and Cycle tabs."
)
LORENZ63_ONLY_TABS = (1, GENERALISATION_TAB, LANDSCAPE_TAB)  # Train, Generalisation, Landscape

FOLLOWING = {True: "Following the teacher", False: "Follow the teacher"}  # the students' toggle
# Every setting of the experiment lives in the page's URL, so that a link opens the same experiment:
# the query names are the settings' names, in their declared order (written once, on ExperimentState).
URL_PARAMETERS = () if pn.state.served else ExperimentState.setting_names()


class Dashboard(Viewer):
    """One student's page: the sidebar of controls and the Explore / Train / Generalisation / About tabs."""

    state = param.ClassSelector(class_=param.Parameterized)  # an ExperimentState

    def __init__(self, **params):
        self.first_solve = FirstSolve()
        self.page_thread = threading.get_ident()  # the session's own thread (Panel builds the page on it)
        self.role = None  # "teacher" or "student" when the server has a teacher token (teacher.py)
        if "state" not in params:
            params["state"] = ExperimentState(solve=self.first_solve, owner=cookie_owner())
        super().__init__(**params)
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, margin=(5, 10), sizing_mode="stretch_width")
        self.preparing = pn.pane.Alert(
            "Preparing the solvers: this server is compiling them for its first page (only once; a few "
            "seconds). The plots appear as soon as they are ready.",
            alert_type="info",
            visible=self.first_solve.deferred,
            margin=(5, 10),
            sizing_mode="stretch_width",
        )
        self.controls = Controls(state=self.state)
        # The Cycle tab's state exists with the page (its system is in the URL) but runs nothing until
        # the tab is opened.
        self.cycle_state = CycleState(compute=False, defer=True)
        self.explore = ExploreView(state=self.state, alert=self.alert)
        self.state.param.watch(self._on_experiment, ["experiment", "shown", "map_method", "variable"])
        self.state.param.watch(self._on_error, "error")
        self._generation = registry.generation
        # Only Explore is built with the page: every other tab's view (and its Python objects, not
        # only its Bokeh models) is built when the tab is first opened (or its view first asked
        # for), into a placeholder column. A class opening the page at once pays for Explore only.
        self._views: dict[str, Viewer] = {}
        self._placeholders = {name: pn.Column(sizing_mode="stretch_width") for name in LAZY_TABS}
        self.tabs = pn.Tabs(
            ("Explore", self.explore),
            *((title, self._placeholders[name]) for name, title in LAZY_TABS.items()),
            dynamic=True,
        )
        self.tabs.param.watch(self._on_tab, "active")
        # Lorenz-96 is in Explore and Cycle so far: the other tabs say so plainly rather than show Lorenz-63
        # silently. The sidebar's system carries the Cycle tab along (which has its own choice as well).
        self.lorenz63_only = pn.pane.Alert(
            LORENZ63_ONLY, alert_type="warning", visible=False, margin=(5, 10), sizing_mode="stretch_width"
        )
        self.state.param.watch(self._on_lorenz63_only, "system")
        self.present = pn.widgets.Toggle(label="Present", button_type="light", width=90, margin=(5, 5))
        self.present.jscallback(value=PRESENT_JS)
        self.present.param.watch(lambda event: self.explore.set_presentation(event.new), "value")
        self.reset = pn.widgets.Button(label="Reset", button_type="light", width=80, margin=(5, 5))
        self.reset.on_click(lambda event: self.reset_settings())
        if self.state.error:
            self._on_error()

    # -- the tabs after Explore, built when first opened --------------------------------------

    def _build_view(self, name: str) -> Viewer:
        if name == "train":
            return TrainView(state=self.state, on_trained=self.use_model)
        if name == "generalisation":  # its figures are built by `ensure_loaded`, not here
            return GeneralisationView(state=self.state, on_pick=self.show_explore, lazy=True)
        if name == "landscape":
            return LandscapeView(state=self.state)
        if name == "cycle":  # its own state; runs and figures built by `ensure_loaded`
            return CycleView(state=self.cycle_state, lazy=True)
        return AboutView(state=self.state)

    def view(self, name: str) -> Viewer:
        """The view of tab `name` (one of LAZY_TABS), built and put in its tab on first use."""
        built = self._views.get(name)
        if built is None:
            built = self._views[name] = self._build_view(name)
            self._placeholders[name].objects = [built]
        return built

    train = property(lambda self: self.view("train"))
    generalisation = property(lambda self: self.view("generalisation"))
    landscape = property(lambda self: self.view("landscape"))
    cycle = property(lambda self: self.view("cycle"))
    about = property(lambda self: self.view("about"))

    # -- the first page of a fresh process, the URL, the header's buttons ---------------------

    def finish_first_solve(self):
        """After the page is drawn: solve (compiling if this process has not yet), then draw."""
        if not self.first_solve.deferred:
            return
        self.explore.loading = True
        try:
            self.first_solve.release()
            self.state.update()
            warmup.WARM.set()
        finally:
            self.explore.loading = False
            self.preparing.visible = False

    def reset_settings(self):
        """Every setting back to its default (one solve)."""
        defaults = {name: self.state.param[name].default for name in URL_PARAMETERS if name != "model"}
        defaults["model"] = registry.default_key()
        self.state.param.update(**defaults)

    def sync_url(self, location):
        """Keep every setting in the page's URL both ways; a value the state refuses is skipped and said."""
        location.sync(self.state, {name: name for name in URL_PARAMETERS}, on_error=self._url_refused)
        location.sync(self.present, {"value": "present"})
        location.sync(self.cycle_state, CYCLE_URL_PARAMETERS, on_error=self._cycle_url_refused)

    def _cycle_url_refused(self, values: dict):
        choices = ", ".join(self.cycle_state.param.system.objects)
        self.show_error(f"The link's Cycle system was not one of {choices} and was not used.")

    def _url_refused(self, values: dict):
        refused = []
        for name, value in values.items():
            try:
                setattr(self.state, name, value)
            except Exception:  # noqa: BLE001 - a crafted or stale link must not break the page
                refused.append(name)
        if refused:
            self.show_error(f"The link's value for {', '.join(refused)} was out of range and was not used.")

    # -- events -----------------------------------------------------------------------------

    def _on_experiment(self, *events):
        """Redraw on the server's event loop: a redraw made in a callback thread (`--num-threads`)
        leaves Panel to send each changed model as its own websocket message, one event-loop turn
        apart (the curves, then the table, the band, the observations: ~100-250 ms in all on a busy
        server); made on the loop under `pn.io.hold()` it is ONE message, and the browser draws once."""
        doc = pn.state.curdoc
        session = getattr(doc, "session_context", None) if doc is not None else None
        if session is not None and threading.get_ident() != self.page_thread:
            doc.add_next_tick_callback(partial(self._redraw, doc))
        else:
            self._redraw(doc)

    def _redraw(self, doc=None):
        with set_curdoc(doc):
            try:
                self.explore.refresh()
            except Exception:  # noqa: BLE001
                log.exception("redrawing failed")
                self.show_error("The plots could not be redrawn for these settings; try other ones.")

    def _on_error(self, *events):
        message = self.state.error
        self.alert.param.update(object=message, visible=bool(message))

    def show_error(self, message: str):
        self.alert.param.update(object=message, visible=True)

    def _on_lorenz63_only(self, *events):
        shown = self.state.system != "lorenz63" and self.tabs.active in LORENZ63_ONLY_TABS
        if self.lorenz63_only.visible != shown:
            self.lorenz63_only.visible = shown
        if events and self.cycle_state.system != self.state.system:  # a sidebar change, not a tab's
            self.cycle_state.update(system=self.state.system)

    def _on_tab(self, event):
        self._on_lorenz63_only()
        if event.new > 0:
            self.view(list(LAZY_TABS)[event.new - 1])
        if event.new == GENERALISATION_TAB:
            self.generalisation.ensure_loaded()
        if event.new == CYCLE_TAB:
            self.cycle.ensure_loaded()
        if "landscape" in self._views:
            self.landscape.show(event.new == LANDSCAPE_TAB)

    def show_explore(self):
        """Switch to the Explore tab (after a Generalisation cell was loaded into the state)."""
        self.tabs.active = 0

    def use_model(self, key: str):
        """A model was trained in this session: list it and select it."""
        self.refresh_models()
        try:
            self.state.model = key
        except ValueError as exc:
            self.show_error(str(exc))

    def refresh_models(self):
        """Pick up models trained by other sessions or processes (cheap when nothing changed)."""
        registry.maybe_refresh()
        if registry.generation == self._generation:
            return
        self._generation = registry.generation
        with pn.io.hold():
            self.state.refresh_models()  # the sidebar's Select follows the parameter's objects

    # -- teacher mode (teacher.py) ------------------------------------------------------------

    def connect_teacher(self, token: str, given) -> pn.viewable.Viewable:
        """This page leads (the right token in its URL) or follows the teacher; returns its header item."""
        channel = teacher.TeacherChannel(token)
        if teacher.is_teacher(given, token):
            self.role = "teacher"

            def publish(*events):
                channel.publish(teacher.teacher_settings(self.state, URL_PARAMETERS))

            self.state.param.watch(publish, list(URL_PARAMETERS))
            publish()
            return pn.pane.HTML(
                '<span style="color:#fff;font-weight:600">Teacher: every following student sees your settings</span>',
                margin=(12, 10),
            )
        self.role = "student"
        if given:
            self.show_error("That teacher token is not right: this page is a student's page.")
        self.follower = teacher.Follower(self.state, channel, URL_PARAMETERS, on_refused=self.show_error)
        follow = pn.widgets.Toggle(name=FOLLOWING[True], value=True, button_type="light", width=190, margin=(5, 5))

        def on_follow(event):
            follow.name = FOLLOWING[event.new]
            self.follower.set_following(event.new)

        follow.param.watch(on_follow, "value")
        self.follower.poll()
        return pn.Row(follow, align="end")

    def poll_teacher(self):
        follower = getattr(self, "follower", None)
        if follower is not None:
            follower.poll()

    def __panel__(self):
        return pn.Row(
            self.controls, pn.Column(self.preparing, self.lorenz63_only, self.tabs), sizing_mode="stretch_width"
        )


def create_app():
    """Build one session's page (called by `panel serve` for each new session)."""
    started = time.perf_counter()
    enable_compilation_cache()  # before anything compiles: a restart loads what the last run compiled
    serving.quiet_closed_sockets()  # (this process's event loop: a closed tab prints no traceback)
    serving.serve_stylesheets_locally()
    pn.extension(
        "katex",
        notifications=True,
        exception_handler=exception_handler,
        raw_css=[CSS],
        design="bootstrap",
        throttled=True,
        js_files={"narrow_screens": NARROW_JS, "css_value_cache": CSS_VALUE_CACHE_JS},
    )
    app = Dashboard()
    template = pn.template.BootstrapTemplate(
        title=TITLE,
        header_background=HEADER_BACKGROUND,
        sidebar_width=300,
        collapsed_sidebar=False,
        meta_viewport=META_VIEWPORT,
        # No busy spinner in the header: it is one more root per page, and it sends two more
        # messages to the browser on every slider move (busy, then idle); a redraw takes ~0.1 s.
        busy_indicator=None,
    )
    template.config.raw_css = [*template.config.raw_css, PAGE_CSS]
    template.server_doc = partial(attach_frozen, template.server_doc)
    template.header.append(pn.Row(app.present, app.reset, align="end"))
    token = teacher.configured_token()
    if token:  # teacher mode: this page leads (?teacher=TOKEN) or follows
        given = (pn.state.session_args.get("teacher") or [None])[0]
        template.header.append(app.connect_teacher(token, given))
        if app.role == "student":
            pn.state.add_periodic_callback(app.poll_teacher, period=teacher.POLL_MS)
    template.sidebar.append(app.controls)
    # The "preparing the solvers" note only on a page that will wait for them (one model fewer).
    main = (app.preparing, app.lorenz63_only, app.tabs) if app.first_solve.deferred else (app.lorenz63_only, app.tabs)
    template.main.append(pn.Column(*main, sizing_mode="stretch_width"))
    if pn.state.location is not None:
        app.sync_url(pn.state.location)
    pn.state.onload(app.finish_first_solve)
    ModelListWatcher.of_process(MODEL_LIST_POLL_MS / 1e3).watch(app, pn.state.curdoc)
    log.info("session page built in %.0f ms", (time.perf_counter() - started) * 1e3)
    return template, app


if pn.state.served:
    # Host/Origin allowlist (dashboard/server/guard.py): every later request of this process is checked
    # before any handler runs; this first session is checked on the request that created it.
    from dashboard.server import guard

    guard.install()
    serving.configure_server()  # (idempotent; session reuse once the full page can be built)
    if not guard.session_allowed(pn.state.curdoc.session_context):
        pn.pane.Markdown(guard.REFUSED).servable(title=TITLE)
    elif serving.PAGE_READY.is_set():  # warm: the full page, built by the imported module
        from dashboard import app as _page

        _template, _app = _page.create_app()
        pn.state.onload(serving.page_drawn)
        _template.servable(title=TITLE)
    else:  # still warming up: a light page with its progress, which reloads itself when ready
        serving.serve_while_warming(TITLE, HEADER_BACKGROUND).servable(title=TITLE)
