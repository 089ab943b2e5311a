"""Crafted values in a real page: each is refused, the widget in the browser snaps back, the banner
says which value and why, it clears on the next valid move, and the page still draws."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

# The page is ready, and its plotted data, as the layout tests read them.
from dashboard.local_server import DATA_FINGERPRINT_JS as FINGERPRINT_JS
from dashboard.local_server import PLOTS_DRAWN_JS as READY_JS

pytestmark = pytest.mark.browser


# Each crafted value: how to find the widget's model, the value sent, the value it must come back to.
FIND = {
    "obs_every": 'm => m.type === "Slider" && String(m.title).startsWith("Observe every")',
    "seed": 'm => m.type === "Slider" && String(m.title).startsWith("Problem seed")',
    "noise": 'm => m.type === "Slider" && String(m.title).startsWith("Observation noise")',
    "caps": 'm => m.type === "Slider" && String(m.title).startsWith("4DVar iteration cap")',  # over positions 0..6
    "model": 'm => String(m.type).endsWith("Select") && String(m.title).startsWith("Trained FourDVarNet")',
}
CRAFT_JS = """([find, value]) => {
  const m = [...Bokeh.documents[0].all_models].find(eval(find));
  const sent = value === "NaN" ? NaN : value === "Infinity" ? Infinity : value;
  const before = m.value;
  m.value = sent;
  if ("value_throttled" in m) m.value_throttled = sent;
  return before;
}"""
VALUE_JS = "(find) => [...Bokeh.documents[0].all_models].find(eval(find)).value"


@pytest.mark.parametrize(
    "widget, value, words",
    [
        ("obs_every", "NaN", ["Observe every N steps nan", "not a finite number"]),
        ("noise", "Infinity", ["Observation noise (std) inf", "not a finite number"]),
        ("obs_every", 999, ["Observe every N steps 999", "at most 25"]),
        ("caps", 42, ["position 42", "not one of the caps"]),
        ("model", "assets/not-listed.eqx", ["not-listed.eqx", "not one of"]),
    ],
)
def test_a_crafted_value_snaps_back_and_the_banner_clears(page, dashboard_server, widget, value, words):
    page.goto(dashboard_server["url"])
    page.wait_for_function(READY_JS, timeout=60_000)
    before = page.evaluate(CRAFT_JS, [FIND[widget], value])
    banner = page.get_by_text("That value was refused").first
    banner.wait_for(timeout=10_000)
    text = banner.inner_text()
    for word in words:
        assert word in text, text
    # The widget in the browser shows the value in use again.
    page.wait_for_function(f"(b) => ({VALUE_JS})({FIND[widget]!r}) === b", arg=before, timeout=10_000)
    # The page still draws: a valid move redraws the plots and clears the banner.
    drawn = page.evaluate(FINGERPRINT_JS)
    handle = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text="Problem seed"))
    handle = handle.locator(".noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(f"(d) => ({FINGERPRINT_JS})() !== d", arg=drawn, timeout=20_000)
    expect(page.get_by_text("That value was refused")).to_have_count(0, timeout=10_000)
