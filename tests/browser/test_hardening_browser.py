"""Crafted values in a real page, on every tab: each is refused, the widget in the browser snaps back,
a banner says which value and why, the banner clears on the next valid move, and the page still draws.

The values are set on the page's Bokeh models from JavaScript (`Bokeh.documents[0]`), as a modified
browser would send them; one page per tab, many probes in it.
"""

from __future__ import annotations

import json

import pytest
from support import wait_until

# The page is ready, and its plotted data, as the layout tests read them.
from benchmarks.local_server import DATA_FINGERPRINT_JS as FINGERPRINT_JS
from benchmarks.local_server import FIGURES_DRAWN_JS
from benchmarks.local_server import PLOTS_DRAWN_JS as READY_JS

pytestmark = pytest.mark.browser

BANNER = "That value was refused"
MODEL_JS = "[...Bokeh.documents[0].all_models].find(eval(find))"
# Set `attr` of the model that `find` selects to `value` ("NaN", "Infinity" as strings); returns the
# model's value before, as JSON. A slider is sent both its value and its released value.
CRAFT_JS = f"""([find, attr, value]) => {{
  const m = {MODEL_JS};
  const sent = value === "NaN" ? NaN : value === "Infinity" ? Infinity : value;
  const before = JSON.stringify(m[attr]);
  m[attr] = sent;
  if (attr === "value" && "value_throttled" in m) m.value_throttled = sent;
  return before;
}}"""
SAME_JS = f"([find, attr, before]) => {{ const m = {MODEL_JS}; return !!m && JSON.stringify(m[attr]) === before; }}"
EXISTS_JS = f"(find) => !!window.Bokeh && Bokeh.documents.length > 0 && !!{MODEL_JS}"


def slider(title: str) -> str:
    return f'm => m.type === "Slider" && String(m.title).startsWith({json.dumps(title)})'


def last_slider(title: str) -> str:
    """The tab's slider where the sidebar has one of the same title (the tab's comes later)."""
    return (
        f'(m, i, all) => m === all.filter(x => x.type === "Slider" && String(x.title) === {json.dumps(title)}).at(-1)'
    )


def buttons(kind: str, label: str) -> str:
    return f'm => String(m.type).endsWith("{kind}") && (m.labels || []).includes({json.dumps(label)})'


def titled(kind: str, title: str) -> str:
    return f'm => String(m.type).endsWith("{kind}") && String(m.title).startsWith({json.dumps(title)})'


def banner_with(page, words: list[str], timeout_s: float = 30.0) -> str:
    """The text of the banner that names all `words` (waits for it)."""
    found: list[str] = []

    def named() -> bool:
        found[:] = [t for t in page.get_by_text(BANNER).all_inner_texts() if all(w in t for w in words)]
        return bool(found)

    wait_until(named, timeout_s, f"a banner naming {words}", poll_s=0.1)
    return found[0]


def probe(page, find: str, attr: str, value, words: list[str]) -> None:
    """Craft one value; the banner names it, and the browser's widget shows the value in use again."""
    before = page.evaluate(CRAFT_JS, [find, attr, value])
    banner_with(page, words)
    page.wait_for_function(SAME_JS, arg=[find, attr, before], timeout=30_000)


# Text each tab shows once its first computation is done (the server handles a crafted value after it).
DRAWN = {"Landscape": "the truth's", "Cycle": "Scored over cycles"}


def open_tab(page, url: str, tab: str | None, first: str) -> None:
    page.goto(url, timeout=120_000)  # (a page takes ~20 s on 2 busy cores)
    page.wait_for_function(READY_JS, timeout=60_000)
    if tab is not None:
        page.locator(".bk-tab", has_text=tab).first.click()
    page.wait_for_function(EXISTS_JS, arg=first, timeout=120_000)
    if tab in DRAWN:
        page.get_by_text(DRAWN[tab]).first.wait_for(timeout=180_000)


EXPLORE = [
    (slider("Observe every"), "value", "NaN", ["Observe every N steps nan", "not a finite number"]),
    (slider("Observation noise"), "value", "Infinity", ["Observation noise (std) inf", "not a finite number"]),
    (slider("Problem seed"), "value", 1e308, ["Problem seed 1e+308", "out of range"]),
    (slider("Problem seed"), "value", -1, ["Problem seed -1", "at least 0"]),
    (slider("Problem seed"), "value", "abc", ["Problem seed “abc”", "not a number"]),
    (slider("4DVar iteration cap"), "value", 42, ["position 42", "not one of the caps"]),
    (buttons("RadioButtonGroup", "attractor"), "active", 99, ["Problem 99", "not one of attractor, seed"]),
    (buttons("RadioButtonGroup", "attractor"), "active", -1, ["Problem -1", "not one of attractor, seed"]),
    (buttons("CheckboxButtonGroup", "x"), "active", [99], ["Observed components [99]", "not one of the options"]),
    (buttons("CheckboxButtonGroup", "x"), "active", [], ["Observed components []", "at least one component"]),
    (titled("Select", "Trained FourDVarNet"), "value", "assets/not-listed.eqx", ["not-listed.eqx", "not one of"]),
    (titled("Select", "Trained FourDVarNet"), "value", "", ["Trained FourDVarNet “”", "not one of"]),
    (titled("Spinner", "Problem seed (type it)"), "value", None, ["Problem seed None", "not a number"]),
]


def test_every_crafted_sidebar_value_is_refused_and_the_page_keeps_working(page, dashboard_server):
    open_tab(page, dashboard_server["url"], None, EXPLORE[0][0])
    for find, attr, value, words in EXPLORE:
        probe(page, find, attr, value, words)
    # The page still draws: a valid move redraws the plots and clears the banner.
    drawn = page.evaluate(FINGERPRINT_JS)
    handle = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text="Problem seed"))
    handle = handle.locator(".noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(f"(d) => ({FINGERPRINT_JS})() !== d", arg=drawn, timeout=45_000)
    page.get_by_text(BANNER).first.wait_for(state="hidden", timeout=30_000)


TABS = {
    "Train": [
        (slider("Training problems"), "value", "NaN", ["Training problems per step (batch) nan", "not a finite"]),
        (slider("Training problems"), "value", "Infinity", ["Training problems per step (batch) inf"]),
        (slider("Training steps"), "value", "NaN", ["Training steps nan", "not a finite number"]),
        (slider("Training steps"), "value", 1e308, ["Training steps 1e+308", "at most 1000"]),
        (slider("Training steps"), "value", "abc", ["Training steps “abc”", "not a number"]),
        (buttons("RadioButtonGroup", "from scratch"), "active", 99, ["Start 99", "not one of"]),
    ],
    "Landscape": [
        (slider("Extent"), "value", "NaN", ["Extent", "nan", "not a finite number"]),
        (slider("Extent"), "value", "Infinity", ["Extent", "inf", "not a finite number"]),
        (slider("Extent"), "value", 1e308, ["Extent", "1e+308", "out of range"]),
        (slider("Extent"), "value", -1, ["Extent", "-1", "at least 0.25"]),
        (buttons("RadioButtonGroup", "x-z"), "active", 99, ["Plane 99", "not one of"]),
    ],
    "Cycle": [
        (slider("Inflation"), "value", "NaN", ["Inflation nan", "not a finite number"]),
        (slider("Lag"), "value", 99, ["Lag (cycles) 99", "at most 5"]),
        (last_slider("Seed"), "value", "abc", ["Seed “abc”", "not a number"]),
        (slider("Ensemble size"), "value", 42, ["position 42", "not one of the sizes"]),
        (buttons("RadioButtonGroup", "1000"), "active", 99, ["Cycles 99", "not one of"]),
        (buttons("CheckboxButtonGroup", "iEnKS"), "active", [99], ["Methods [99]", "not one of the options"]),
        ('m => String(m.type).endsWith(".Player")', "value", 1e9, ["Cycle 1000000000", "out of range"]),
        (buttons("RadioButtonGroup", "Lorenz-96 (sakov2008)"), "active", 99, ["System 99", "not one of"]),
        (slider("LETKF localisation radius"), "value", 99, ["LETKF localisation radius 99", "at most 20"]),
        (slider("Weak 4DVar's model error q"), "value", "NaN", ["Weak 4DVar's model error q nan", "not a finite"]),
    ],
}


@pytest.mark.parametrize("tab", list(TABS))
def test_every_crafted_value_on_a_tab_is_refused(page, dashboard_server, tab):
    probes = TABS[tab]
    open_tab(page, dashboard_server["url"], tab, probes[0][0])
    for find, attr, value, words in probes:
        probe(page, find, attr, value, words)


HEATMAP_SOURCE = 'm => m.type === "ColumnDataSource" && "model_key" in m.data'


def test_a_crafted_generalisation_selection_is_refused(page, dashboard_server):
    from dashboard.data.generalisation_data import results_path

    if not results_path().exists():
        pytest.skip("no sweep results: the tab shows its friendly message, and has no cell to select")
    open_tab(page, dashboard_server["url"], "Generalisation", HEATMAP_SOURCE)
    page.wait_for_function(FIGURES_DRAWN_JS, arg=1, timeout=120_000)
    for index in (10**6, -1):
        page.evaluate(f"(find) => {{ {MODEL_JS}.selected.indices = [{index}]; }}", HEATMAP_SOURCE)
        page.get_by_text(f"there is no cell {index}").first.wait_for(timeout=30_000)
        page.wait_for_function(
            f"(find) => {MODEL_JS}.selected.indices.length === 0", arg=HEATMAP_SOURCE, timeout=30_000
        )
    # A selection that is not even a list of numbers: Bokeh cannot hold it; it is sent back too.
    page.evaluate(f"(find) => {{ {MODEL_JS}.selected.indices = ['abc']; }}", HEATMAP_SOURCE)
    page.wait_for_function(f"(find) => {MODEL_JS}.selected.indices.length === 0", arg=HEATMAP_SOURCE, timeout=30_000)
    assert page.locator(".bk-tab.bk-active").first.inner_text() == "Generalisation"
