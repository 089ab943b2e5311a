"""The window slider in a real browser: it redraws the Explore trajectories and the shaded window,
and the Landscape tab's cost map and solver paths; screenshots of the landscape at 50 and 300 steps.

Bokeh draws on a canvas, so the checks read `Bokeh.documents[0].all_models`. The two landscape
screenshots go where the `screenshots` fixture says (tests/browser/conftest.py: the README's
`assets/screenshots/` only with L63_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

EXPLORE_READY_JS = """() => !!window.Bokeh && Bokeh.documents.length > 0 &&
  [...Bokeh.documents[0].all_models].some(m => m.type === "ColumnDataSource" && m.data.x &&
    m.data.x.length > 0 && m.data.x[0].length === 1001)"""
# The Explore curves: a sum over every trajectory (changes when any curve changes).
CURVES_JS = """() => {
  const s = [...Bokeh.documents[0].all_models].find(m => m.type === "ColumnDataSource" && m.data.rmse);
  let total = 0;
  for (const row of s.data.x) for (let i = 0; i < row.length; i += 3) total += Number(row[i]) || 0;
  return total.toFixed(4);
}"""
WINDOW_BOXES_JS = """() => [...Bokeh.documents[0].all_models]
  .filter(m => m.type === "BoxAnnotation" && m.fill_color === "#f2d98a")
  .map(m => m.right)"""
# The landscape: its title, the image's sum, and the paths' points (each changes with the window).
LANDSCAPE_JS = """() => {
  const models = [...Bokeh.documents[0].all_models];
  const image = models.find(m => m.type === "ColumnDataSource" && "image" in m.data && "dw" in m.data);
  const lines = models.find(m => m.type === "ColumnDataSource" && "xs" in m.data && "name" in m.data);
  if (!image || !image.data.image.length || !lines) return null;
  const img = image.data.image[0];
  let total = 0;
  for (let i = 0; i < img.length; i += 5) total += Number(img[i]);
  const title = models.find(m => m.type === "Title" && String(m.text).includes("4DVar's cost J(x0)"));
  return {
    title: title ? title.text : "",
    image: total.toPrecision(8),
    n: img.length,
    names: [...lines.data.name],
    paths: lines.data.xs.map(xs => xs.length + ":" + Number(xs[xs.length - 1]).toFixed(4)).join("|"),
  };
}"""


def _window_handle(page):
    """The window slider's handle: the discrete slider with 9 positions (index 0..8)."""
    return page.locator('.noUi-handle[aria-valuemax^="8"]').first


def _press_until(page, handle, js: str, predicate: str, key="ArrowRight", timeout=60_000):
    before = page.evaluate(js)
    handle.focus()
    handle.press(key)
    page.wait_for_function(
        f"(before) => {{ const now = ({js})(); return now !== null && ({predicate}); }}", arg=before, timeout=timeout
    )
    return page.evaluate(js)


def test_the_window_slider_redraws_the_trajectories_and_the_landscape(page, dashboard_server, screenshots):
    page.goto(dashboard_server["url"])
    page.wait_for_function(EXPLORE_READY_JS, timeout=60_000)
    assert page.evaluate(WINDOW_BOXES_JS) == [0.5] * 4
    handle = _window_handle(page)

    # Explore: 50 -> 75 steps redraws the curves and moves the shaded window's end to t = 0.75.
    curves_before = page.evaluate(CURVES_JS)
    _press_until(page, handle, CURVES_JS, "now !== before")
    page.wait_for_function("() => (" + WINDOW_BOXES_JS + ")().every(r => Math.abs(r - 0.75) < 1e-9)", timeout=45_000)
    assert page.evaluate(CURVES_JS) != curves_before
    handle.focus()
    handle.press("ArrowLeft")  # back to 50 for the short landscape
    page.wait_for_function("() => (" + WINDOW_BOXES_JS + ")().every(r => Math.abs(r - 0.5) < 1e-9)", timeout=45_000)

    # Landscape: built when the tab is first opened, at the sidebar's window.
    page.locator(".bk-tab", has_text="Landscape").first.click()
    page.wait_for_function(f"() => {{ const s = ({LANDSCAPE_JS})(); return s && s.n === 64 * 64; }}", timeout=60_000)
    short = page.evaluate(LANDSCAPE_JS)
    assert "window 50 steps" in short["title"]
    assert short["names"] == ["gauss-newton", "bfgs", "quasi-static", "weak_4dvar", "fourdvarnet"]
    page.wait_for_timeout(800)
    page.screenshot(path=str(screenshots / "landscape_short.png"))

    # One release on the Landscape tab redraws the map and the paths (75 steps: compiled by the move above).
    now = _press_until(page, handle, LANDSCAPE_JS, "now.title.includes('window 75 steps')")
    assert now["image"] != short["image"] and now["paths"] != short["paths"]


@pytest.mark.ci  # ~50 s on 2 cores: every window length compiles its paths and its Explore solve on demand
def test_sliding_the_landscape_to_300_steps_redraws_at_every_length_and_gauss_newton_fails(
    page, dashboard_server, screenshots
):
    page.goto(dashboard_server["url"])
    page.wait_for_function(EXPLORE_READY_JS, timeout=60_000)
    handle = _window_handle(page)
    page.locator(".bk-tab", has_text="Landscape").first.click()
    page.wait_for_function(f"() => {{ const s = ({LANDSCAPE_JS})(); return s && s.n === 64 * 64; }}", timeout=60_000)
    seen = [page.evaluate(LANDSCAPE_JS)]
    assert "window 50 steps" in seen[0]["title"]
    # Slide to 300 steps on the Landscape tab: each release redraws the map and the paths.
    for steps in (75, 100, 150, 200, 250, 300):
        now = _press_until(page, handle, LANDSCAPE_JS, f"now.title.includes('window {steps} steps')")
        assert now["image"] != seen[-1]["image"] and now["paths"] != seen[-1]["paths"]
        seen.append(now)
    page.wait_for_timeout(800)
    page.screenshot(path=str(screenshots / "landscape_long.png"))
    # The long window's table (Explore) shows Gauss-Newton red: it did not converge.
    page.locator(".bk-tab", has_text="Explore").first.click()
    page.wait_for_function(EXPLORE_READY_JS, timeout=45_000)
    page.wait_for_function("() => (" + WINDOW_BOXES_JS + ")().every(r => Math.abs(r - 3.0) < 1e-9)", timeout=45_000)
    row = page.locator("table.metrics tr.row-strong_4dvar").first
    assert row.locator(".bad").count() == 1
