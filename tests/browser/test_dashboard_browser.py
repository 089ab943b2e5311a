"""The dashboard in a real browser: it loads offline, sliders redraw the plots, screenshots.

Bokeh draws on a canvas, so the checks read the plot data from `Bokeh.documents[0].all_models`
and the server-rendered metrics table. Screenshots go to a temporary folder (the `screenshots`
fixture); `L63_UPDATE_SCREENSHOTS=1` writes them to `assets/screenshots/` for the README.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmarks.local_server import DATA_FINGERPRINT_JS, FIGURES_DRAWN_JS, PLOTS_DRAWN_JS, timed_release

pytestmark = pytest.mark.browser

LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")

READY_JS, FINGERPRINT_JS = PLOTS_DRAWN_JS, DATA_FINGERPRINT_JS  # (benchmarks/local_server.py)


def _slider(page, title: str):
    """The noUiSlider handle of the sidebar slider whose title starts with `title`."""
    box = page.locator(".bk-input-group", has=page.locator(".bk-slider-title", has_text=title))
    return box.locator(".noUi-handle").first


def _slider_title(page, title: str) -> str:
    return page.locator(".bk-slider-title", has_text=title).first.inner_text()


def _open(page, url):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(READY_JS, timeout=60_000)
    first_view_s = time.perf_counter() - start
    return requests, first_view_s


def test_first_view_is_local_and_complete(page, dashboard_server, screenshots):
    requests, first_view_s = _open(page, dashboard_server["url"])
    outside = [u for u in requests if not u.startswith(LOCAL)]
    assert outside == [], f"the page fetched from outside the server: {outside}"
    table = page.locator("table.metrics").inner_text()
    for word in ("strong 4DVar", "FourDVarNet", "free run", "converged"):
        assert word in table
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "explore.png"))
    # A time is reported, never asserted (benchmarks/pagebench.py measures it on a quiet machine).
    print(f"\nfirst view {first_view_s:.2f} s (server up after {dashboard_server['startup_s']:.0f} s)")


def test_density_and_seed_sliders_redraw_in_place(page, dashboard_server, screenshots):
    _open(page, dashboard_server["url"])
    density = _slider(page, "Observe every N steps")
    seed = _slider(page, "Problem seed")
    n_plots = page.evaluate("() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'Figure').length")

    timings = []
    before_title = _slider_title(page, "Observe every N steps")
    table_before = page.locator("table.metrics").inner_text()
    for _ in range(3):
        timings.append(timed_release(page, density))
    assert _slider_title(page, "Observe every N steps") != before_title
    assert page.locator("table.metrics").inner_text() != table_before

    before_seed = _slider_title(page, "Problem seed")
    for _ in range(3):
        timings.append(timed_release(page, seed))
    assert _slider_title(page, "Problem seed") != before_seed
    # Patched in place: the same figures, no new ones.
    n_after = page.evaluate("() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'Figure').length")
    assert n_after == n_plots
    median = statistics.median(timings)
    print(f"\nslider release -> redrawn: median {median:.0f} ms, all {json.dumps([round(t) for t in timings])}")
    page.screenshot(path=str(screenshots / "explore_moved.png"))  # the time: benchmarks/movebench.py


def test_new_problem_button_and_tabs(page, dashboard_server, screenshots):
    _open(page, dashboard_server["url"])
    caption = page.locator("table.metrics caption").first  # "seed N, <preset> problem; ..."
    seed_before = re.search(r"seed (\d+),", caption.inner_text()).group(1)
    before = page.evaluate(FINGERPRINT_JS)
    page.get_by_role("button", name="New problem (random seed)").click()
    page.wait_for_function(f"(b) => ({FINGERPRINT_JS})() !== b", arg=before, timeout=45_000)
    # The redraw is a new problem: the table names another seed.
    expect(caption).to_contain_text(re.compile(r"seed \d+,"))
    expect(caption).not_to_contain_text(f"seed {seed_before},")

    page.locator(".bk-tab", has_text="Train").first.click()
    expect(page.get_by_role("button", name="Train on the current settings")).to_be_visible(timeout=45_000)
    expect(page.locator(".bk-tab.bk-active")).to_contain_text("Train")
    page.screenshot(path=str(screenshots / "train.png"))

    page.locator(".bk-tab", has_text="About").first.click()
    expect(page.get_by_text("What you are looking at")).to_be_visible(timeout=45_000)
    expect(page.locator(".bk-tab.bk-active")).to_contain_text("About")
    page.wait_for_timeout(1500)  # for the picture only: the cost's math is typeset after the text shows
    page.screenshot(path=str(screenshots / "about.png"), full_page=True)


# The boxes of every plot canvas and of the metrics table, in page coordinates.
BOXES_JS = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
                        return {l: r.left, t: r.top, r: r.right, b: r.bottom}; };
  const figures = [...Bokeh.index.query((v) => v.model.type === "Figure")].map((v) => box(v.canvas_view.el));
  const tables = [...Bokeh.index.query((v) => v.el && v.el.shadowRoot &&
                                              v.el.shadowRoot.querySelector("table.metrics:not(.seeds)"))]
    .map((v) => box(v.el.shadowRoot.querySelector(".table-scroll")));  // what shows (it scrolls if it must)
  const sidebar = document.getElementById("sidebar");
  return {figures, tables, width: window.innerWidth,
          sidebar: sidebar ? sidebar.getBoundingClientRect().width : 0,
          viewport: document.querySelector('meta[name="viewport"]')?.content || null};
}"""
SCREENS = [(390, 844), (768, 1024), (1366, 768), (1920, 1080)]


def _overlap(a, b) -> float:
    return max(0.0, min(a["r"], b["r"]) - max(a["l"], b["l"])) * max(0.0, min(a["b"], b["b"]) - max(a["t"], b["t"]))


@pytest.mark.parametrize("width, height", SCREENS, ids=[f"{w}x{h}" for w, h in SCREENS])
def test_layout_fits_every_screen(page, dashboard_server, width, height, screenshots):
    """Phone to projector: no two plots (nor a plot and the table) overlap, none runs past the width."""
    page.set_viewport_size({"width": width, "height": height})
    _open(page, dashboard_server["url"])
    page.wait_for_timeout(500)  # the layout settles after the last figure drew
    boxes = page.evaluate(BOXES_JS)
    page.screenshot(path=str(screenshots / f"screen_{width}x{height}.png"))
    assert boxes["viewport"] == "width=device-width, initial-scale=1"
    figures, tables = boxes["figures"], boxes["tables"]
    assert len(figures) == 5 and len(tables) == 1
    for i, a in enumerate(figures + tables):
        assert a["r"] - a["l"] > 200, f"box {i} is only {a['r'] - a['l']:.0f} px wide"
        assert a["l"] >= 0 and a["r"] <= width + 0.5, f"box {i} runs past the {width} px viewport: {a}"
        for j, b in enumerate(figures + tables):
            if j > i:
                assert _overlap(a, b) < 1.0, f"boxes {i} and {j} overlap at {width}x{height}: {a} {b}"
    if width < 900:  # narrow screens start with the sidebar folded away
        assert boxes["sidebar"] < 1.0
    else:
        assert boxes["sidebar"] > 250
    # The plots use the width: the time plots span most of what the sidebar leaves.
    time_plot = figures[0]["r"] - figures[0]["l"]
    assert time_plot > 0.5 * (width - boxes["sidebar"])


TITLE_FONT_JS = """() => [...Bokeh.documents[0].all_models].filter((m) => m.type === "Title")
  .map((m) => m.text_font_size)"""


def test_settings_live_in_the_url_and_presentation_mode(page, dashboard_server, screenshots):
    page.goto(dashboard_server["url"] + "?obs_every=10&seed=7&observed=%5B%22x%22%2C%20%22z%22%5D")
    page.wait_for_function(READY_JS, timeout=60_000)
    page.locator(".bk-slider-title", has_text="Observe every N steps: 10").first.wait_for(timeout=45_000)
    page.locator("table.metrics caption", has_text="seed 7,").first.wait_for(timeout=45_000)
    # A change goes back into the address, so that a copied link opens the same experiment.
    timed_release(page, _slider(page, "Observe every N steps"))
    page.wait_for_function("() => window.location.search.includes('obs_every=11')", timeout=30_000)
    assert "seed=7" in page.url
    # Reset: the defaults, in the plots and in the address.
    page.get_by_role("button", name="Reset").click()
    page.locator(".bk-slider-title", has_text="Observe every N steps: 5").first.wait_for(timeout=45_000)
    page.wait_for_function("() => !window.location.search.includes('obs_every=11')", timeout=30_000)
    # Presentation: larger plot text, sidebar folded; and back.
    assert "18px" not in page.evaluate(TITLE_FONT_JS)
    page.get_by_role("button", name="Present").click()
    page.wait_for_function(f"() => ({TITLE_FONT_JS})().includes('18px')", timeout=30_000)
    page.wait_for_function("() => !document.getElementById('sidebar').classList.contains('show')", timeout=15_000)
    page.wait_for_timeout(600)
    page.screenshot(path=str(screenshots / "presentation.png"))
    page.get_by_role("button", name="Present").click()
    page.wait_for_function(f"() => !({TITLE_FONT_JS})().includes('18px')", timeout=30_000)


def test_png_export_names_what_it_holds(page, dashboard_server, screenshots):
    _open(page, dashboard_server["url"])
    with page.expect_download(timeout=45_000) as download:
        page.get_by_role("button", name="Figure (PNG)").click()
    name = download.value.suggested_filename
    assert name == "l63_attractor_seed42_every5_noise0.5_xyz_K5_cap20_figure.png"
    path = download.value.path()
    download.value.save_as(screenshots / "exported_figure.png")
    header = Path(path).read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width > 800 and height > 600  # plots, butterfly, legend and table on one picture


def test_out_of_range_value_from_the_browser_is_refused(page, dashboard_server):
    """A crafted widget value (as a tampered websocket message would carry) is refused."""
    _open(page, dashboard_server["url"])
    page.evaluate("""() => {
      const s = [...Bokeh.documents[0].all_models].find(m => m.type === "Slider" &&
                  String(m.title).startsWith("Observe every"));
      s.value = 999; s.value_throttled = 999;
    }""")
    alert = page.get_by_text("That value was refused").first
    alert.wait_for(timeout=30_000)
    assert "at most 25" in alert.inner_text()
    # The session keeps working: a slider still redraws.
    timed_release(page, _slider(page, "Problem seed"))


# The heatmap's cell at (row label, column factor): its centre on the page, from the plot's frame.
CELL_CENTER_JS = """([label, test]) => {
  const v = Bokeh.index.query_one((v) => v.model.tags && v.model.tags.includes("generalisation-heatmap"));
  v.el.scrollIntoView({block: "center"});
  const frame = v.frame.bbox, box = v.canvas_view.el.getBoundingClientRect();
  const xs = v.model.x_range.factors, ys = v.model.y_range.factors;  // ys: bottom to top
  return {x: box.left + frame.left + frame.width * (xs.indexOf(test) + 0.5) / xs.length,
          y: box.top + frame.top + frame.height * (1 - (ys.indexOf(label) + 0.5) / ys.length)};
}"""
HEATMAP_JS = """() => { if (!window.Bokeh || !Bokeh.documents.length) return null;
  const s = [...Bokeh.documents[0].all_models].find(m => m.type === "ColumnDataSource" && "model_key" in m.data);
  return s ? {n: s.data.ratio.length, model: [...s.data.model], label: [...s.data.label],
              test: [...s.data.test], key: [...s.data.model_key]} : null; }"""


def test_generalisation_tab_heatmap_and_click(page, dashboard_server, screenshots):
    from dashboard.data.generalisation_data import load_results, results_path  # the file the server reads

    path = results_path()
    _open(page, dashboard_server["url"])
    page.locator(".bk-tab", has_text="Generalisation").first.click()
    if not path.exists():
        page.get_by_text("No sweep results").first.wait_for(timeout=45_000)
        pytest.skip(f"no sweep results at {path} yet: the tab shows its friendly message")
    rows = [r for r in load_results(path)["rows"] if r["axis"] == "density" and r["model"] != "strong_4dvar"]
    heatmap = page.wait_for_function(HEATMAP_JS, timeout=45_000).json_value()
    assert heatmap["n"] == len(rows)
    page.set_viewport_size({"width": 1600, "height": 1450})  # the four plots in one picture
    page.wait_for_function(FIGURES_DRAWN_JS, arg=4, timeout=45_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "generalisation.png"))
    page.set_viewport_size({"width": 1600, "height": 1000})

    # A real mouse click on the canvas, on the cell "trained every 20, tested at every 10".
    i = next(
        i for i, (m, t) in enumerate(zip(heatmap["model"], heatmap["test"], strict=True)) if (m, t) == ("every20", "10")
    )
    assert _slider_title(page, "Observe every N steps").endswith(": 5")
    point = page.evaluate(CELL_CENTER_JS, [heatmap["label"][i], "10"])
    page.mouse.click(point["x"], point["y"])
    # The Explore tab is back, with that density and that model.
    page.locator(".bk-slider-title", has_text="Observe every N steps: 10").first.wait_for(timeout=45_000)
    page.locator("table.metrics caption", has_text="obs every 20,").first.wait_for(timeout=45_000)
    assert page.locator(".bk-tab.bk-active").first.inner_text() == "Explore"


BAND_JS = """() => [...Bokeh.documents[0].all_models].filter((m) => m.type === "ColumnDataSource" && m.data.x_lo)
  .map((m) => [m.data.x_lo.length, m.data.x_hi[500] - m.data.x_lo[500]])"""


def test_uncertainty_band_and_seed_box(page, dashboard_server):
    """Strong 4DVar's +-2 sigma band is drawn along the run; typing a seed solves that problem."""
    _open(page, dashboard_server["url"])
    ((n, width),) = page.evaluate(BAND_JS)
    assert n == 1001 and width > 0
    box = page.locator(".bk-input-group", has=page.locator("label", has_text="Problem seed (type it)")).locator("input")
    box.fill("1234")
    box.press("Enter")
    page.locator("table.metrics caption", has_text="seed 1234,").first.wait_for(timeout=45_000)
    # The slider follows the box (its title may redraw a moment after the table).
    page.locator(".bk-slider-title", has_text="Problem seed: 1234").first.wait_for(timeout=30_000)


def test_teacher_pushes_settings_to_following_students(browser, dashboard_server):
    """The teacher's page (?teacher=TOKEN) leads; a following student takes each change; one who
    stopped following keeps their own; a wrong token is a student page that says so."""
    url = dashboard_server["url"]
    channel = [p for p in Path(dashboard_server["cache"]).rglob("teacher-*.json")]
    pages = [browser.new_page(viewport={"width": 1366, "height": 768}) for _ in range(3)]
    lead, follower, alone = pages
    try:
        for p in (follower, alone):
            _open(p, url)
        alone.get_by_role("button", name="Following the teacher").click()  # stop following
        alone.get_by_role("button", name="Follow the teacher").wait_for(timeout=30_000)
        _open(lead, url + f"?teacher={dashboard_server['teacher_token']}")
        lead.get_by_text("Teacher: every following student").wait_for(timeout=30_000)
        box = lead.locator(".bk-input-group", has=lead.locator("label", has_text="Problem seed (type it)"))
        box.locator("input").fill("4321")
        box.locator("input").press("Enter")
        follower.locator("table.metrics caption", has_text="seed 4321,").first.wait_for(timeout=45_000)
        alone.wait_for_timeout(2500)  # two polls
        assert "seed 42," in alone.locator("table.metrics caption").inner_text()
        wrong = browser.new_page()
        pages.append(wrong)
        _open(wrong, url + "?teacher=not-the-token")
        wrong.get_by_text("That teacher token is not right").wait_for(timeout=30_000)
    finally:
        for p in pages:
            p.close()
        for path in Path(dashboard_server["cache"]).rglob("teacher-*.json"):  # later pages follow no one
            if path not in channel:
                path.unlink()


def test_closing_a_tab_prints_no_traceback(browser, dashboard_server):
    log_path = Path(dashboard_server["log"])
    start = log_path.stat().st_size
    for _ in range(3):
        page = browser.new_page()
        _open(page, dashboard_server["url"])
        handle = _slider(page, "Problem seed")
        handle.focus()
        handle.press("ArrowRight")
        page.close()  # right after a move: the server may still be writing to it
    time.sleep(3)
    with log_path.open() as f:
        f.seek(start)
        new = f.read()
    assert "Traceback" not in new and "WebSocketClosedError" not in new, new[-3000:]
