"""The sidebar's sliders over a list of options (iteration caps, window lengths): one Bokeh slider each,
moving both ways with the state, a crafted position refused and said, and fewer models per page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("user_cache")


@pytest.fixture
def controls():
    from dashboard.state.explore import ExperimentState
    from dashboard.views.controls import Controls

    calls = []
    state = ExperimentState(solve=lambda settings: calls.append(settings) or settings)
    return Controls(state=state)


def test_a_choice_slider_moves_with_the_state_both_ways(controls):
    from dashboard.data.compute import ITERATION_CAPS, WINDOWS
    from dashboard.server.browser_patch import browser_sends

    state, caps, window = controls.state, controls.max_steps, controls.window
    assert caps._slider.value == list(ITERATION_CAPS).index(state.max_steps)
    assert (caps._slider.start, caps._slider.end) == (0, len(ITERATION_CAPS) - 1)
    state.max_steps = 5  # e.g. from the URL, the Reset button or the teacher
    assert caps._slider.value == caps._slider.value_throttled == ITERATION_CAPS.index(5)
    browser_sends(window._slider, value=0, value_throttled=0)  # a release in the browser
    assert state.window == WINDOWS[0] and state.experiment.window == WINDOWS[0]
    # The browser shows the option, not its position: the slider's formatter maps one to the other.
    code = window._slider.format.code
    assert all(f'"{w}"' in code for w in WINDOWS)


# (Panel's IntSlider itself turns a float or a numeric string into an int before the state sees it.)
@pytest.mark.parametrize("sent", [-1, 7, 99])
def test_a_crafted_position_is_refused_and_named(controls, sent):
    from dashboard.data.compute import ITERATION_CAPS

    state, target = controls.state, controls.max_steps._slider
    root = target.get_root()
    before = state.max_steps
    from dashboard.server.browser_patch import browser_sends

    browser_sends(target, value=sent, value_throttled=sent)
    assert state.max_steps == before
    assert target.value == root.value == ITERATION_CAPS.index(before)  # snapped back, in the browser too
    assert controls.refused.visible
    message = controls.refused.object
    assert "4DVar iteration cap" in message and ", ".join(map(str, ITERATION_CAPS)) in message


def test_the_refusal_banner_joins_the_page_only_when_needed(controls):
    column = controls.__panel__()
    assert controls.__panel__() is column  # built once
    assert controls.refused not in column.objects
    from dashboard.server.browser_patch import browser_sends

    browser_sends(controls.window._slider, value_throttled=42)
    assert controls.refused in column.objects and "not one of the lengths" in controls.refused.object
