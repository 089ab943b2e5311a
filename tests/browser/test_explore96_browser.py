"""Lorenz-96 in a real page: a link with system=lorenz96 draws the space-time maps and curves at 1366x768
(the README's screenshot), and crafted values of its controls are refused, naming the control."""

from __future__ import annotations

import json

import pytest
from support import wait_until

# ~40 s on 2 cores (the 200-step page compiles its solvers on demand): CI runs it in a step of its own.
pytestmark = [pytest.mark.browser, pytest.mark.ci]

BANNER = "That value was refused"
# Drawn: the maps' images span the 200-step window (10 time units), and every figure has rendered.
LORENZ96_DRAWN_JS = """() => !!window.Bokeh && Bokeh.documents.length > 0 &&
  [...Bokeh.documents[0].all_models].filter(m => m.type === "ColumnDataSource" && m.data.dw &&
    m.data.dw.length === 1 && m.data.dw[0] > 5).length >= 3 &&
  [...Bokeh.index.query((v) => v.model.type === "Figure")].every((v) => v.has_finished())"""
MODEL_JS = "[...Bokeh.documents[0].all_models].find(eval(find))"
CRAFT_JS = f"""([find, attr, value]) => {{
  const m = {MODEL_JS};
  const sent = value === "NaN" ? NaN : value;
  const before = JSON.stringify(m[attr]);
  m[attr] = sent;
  if (attr === "value" && "value_throttled" in m) m.value_throttled = sent;
  return before;
}}"""
SAME_JS = f"([find, attr, before]) => {{ const m = {MODEL_JS}; return !!m && JSON.stringify(m[attr]) === before; }}"


def slider(title: str) -> str:
    return f'm => m.type === "Slider" && String(m.title).startsWith({json.dumps(title)})'


PROBES = [
    (slider("Noise variance of"), "value", "NaN", ["Noise variance of the observations nan", "not a finite number"]),
    (slider("Observed share"), "value", 5, ["Observed share of the variables 5"]),
    (slider("Variable in the time series"), "value", 99, ["Variable in the time series 99"]),
    (slider("Window length (steps; 20"), "value", 42, ["position 42", "not one of the lengths"]),
    (
        'm => String(m.type).endsWith("RadioButtonGroup") && (m.labels || []).includes("Lorenz-96")',
        "active",
        99,
        ["System 99", "not one of"],
    ),
]


def test_a_lorenz96_link_draws_its_maps_and_refuses_crafted_values(page, dashboard_server, screenshots):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(dashboard_server["url"] + "?system=lorenz96", timeout=120_000)
    page.wait_for_function(LORENZ96_DRAWN_JS, timeout=300_000)
    page.wait_for_timeout(500)  # (the colour bars settle)
    page.screenshot(path=str(screenshots / "explore_lorenz96.png"))
    assert page.get_by_text("strong 4DVar (quasi-static)").count() > 0
    for find, attr, value, words in PROBES:
        before = page.evaluate(CRAFT_JS, [find, attr, value])
        wait_until(
            lambda words=words: any(all(w in t for w in words) for t in page.get_by_text(BANNER).all_inner_texts()),
            30.0,
            f"a banner naming {words}",
            poll_s=0.1,
        )
        page.wait_for_function(SAME_JS, arg=[find, attr, before], timeout=30_000)
    # Back to Lorenz-63: its controls and plots come back in place of Lorenz-96's.
    page.locator(".bk-btn", has_text="Lorenz-63").first.click()
    page.get_by_text("Observe every N steps").first.wait_for(state="visible", timeout=120_000)
    page.get_by_text("Window length (steps; 20").first.wait_for(state="hidden", timeout=30_000)
