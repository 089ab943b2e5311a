"""The Cycle tab in a real browser: opened lazily, a slider reruns the cycle, Play animates the window,
and the System choice draws Lorenz-96's space-time map.

Bokeh draws on a canvas, so the checks read the plot data from `Bokeh.documents[0].all_models`.
Screenshots of the tab go to a temporary folder (the README's is taken by hand).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# The window's sources: those with a mean ("x") and a spread band ("x_lo"): Explore's 4DVar band
# has the band alone. Their data, summed.
WINDOW_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents.length) return null;
  const sources = [...Bokeh.documents[0].all_models].filter(m => m.type === "ColumnDataSource" && m.data.x_lo && m.data.x);
  if (!sources.length) return null;
  let n = 0, s = 0, tmax = -1;
  for (const src of sources) {
    const t = src.data.t, x = src.data.x;
    n += t.length;
    for (let i = 0; i < t.length; i++) { if (isFinite(x[i])) s += x[i]; tmax = Math.max(tmax, t[i]); }
  }
  return n > 0 ? `${n}:${s.toFixed(4)}:${tmax.toFixed(2)}` : null;
}"""

# The Lorenz-96 map's rows (variables) once its image holds data, else null.
HOVMOLLER_ROWS_JS = """() => {
  if (!window.Bokeh || !Bokeh.documents.length) return null;
  const src = [...Bokeh.documents[0].all_models].find(m => m.type === "ColumnDataSource" && m.data.image
    && m.data.image.length > 0);
  if (!src) return null;
  const image = src.data.image[0];
  return image.shape ? image.shape[0] : image.length;
}"""


def _window(page):
    return page.evaluate(WINDOW_JS)


def test_cycle_tab_opens_reruns_and_plays(page, dashboard_server, screenshots):
    page.goto(dashboard_server["url"])
    page.locator(".bk-tab", has_text="Cycle").first.click()
    page.wait_for_function(f"() => ({WINDOW_JS})() !== null", timeout=120_000)
    page.wait_for_timeout(500)
    first = _window(page)
    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(800)
        page.screenshot(path=str(screenshots / f"cycle_{width}x{height}.png"), full_page=False)
    page.set_viewport_size({"width": 1600, "height": 1000})

    # A slider of the tab (not the sidebar's): a new spacing reruns the cycle and redraws the window.
    box = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text="Inflation")).first
    box.locator(".noUi-handle").first.focus()
    box.locator(".noUi-handle").first.press("ArrowRight")
    page.wait_for_function(f"(before) => ({WINDOW_JS})() !== before", arg=first, timeout=60_000)
    assert "Inflation: 1.03" in box.inner_text()

    # The Player (as its play button does, frame by frame): the window slides over the data already
    # computed. The app throttles widgets, so the server hears `value_throttled`.
    before = _window(page)
    t_before = float(before.split(":")[2])
    page.evaluate(
        """() => { const p = [...Bokeh.documents[0].all_models].find(m => String(m.type).endsWith(".Player"));
                   p.value = p.value + 5; p.value_throttled = p.value; }"""
    )
    page.wait_for_function(
        f"(t0) => {{ const w = ({WINDOW_JS})(); return w && parseFloat(w.split(':')[2]) > t0 + 0.5; }}",
        arg=t_before,
        timeout=45_000,
    )
    t_after = float(_window(page).split(":")[2])
    assert t_after == pytest.approx(t_before + 5 * 0.25, abs=0.02)  # five cycles of 25 steps of 0.01

    # Lorenz-96 (one click): the space-time map of the analysis error replaces the animated window.
    page.locator(".bk-btn", has_text="Lorenz-96 (sakov2008)").first.click()
    rows = page.wait_for_function(HOVMOLLER_ROWS_JS, timeout=120_000).json_value()
    assert rows == 40  # one row per variable
    page.screenshot(path=str(screenshots / "cycle_lorenz96.png"), full_page=False)
