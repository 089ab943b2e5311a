"""The one module of private Panel/Bokeh uses (dashboard/server/panel_compat.py): it says plainly when the
installed versions are not the tested ones, and its wrapping primitive never wraps a wrapper."""

from __future__ import annotations

import logging
import subprocess
import sys

import bokeh
import panel as pn
import pytest
from bokeh.protocol.messages.patch_doc import patch_doc
from bokeh.server.tornado import BokehTornado
from tornado.web import Application

from dashboard.server import panel_compat
from dashboard.server.panel_compat import original_method, replace_method


@pytest.mark.parametrize(
    "panel_version, bokeh_version, outside",
    [
        ("1.9.0", "3.8.2", []),  # both lower bounds are tested
        ("1.9.99", "3.9.9", []),
        ("1.10.0", "3.9.2", ["panel 1.10.0 (tested >=1.9.0,<1.10)"]),
        ("1.8.9", "3.9.2", ["panel 1.8.9 (tested >=1.9.0,<1.10)"]),
        ("1.9.4", "3.10.0.dev1", ["bokeh 3.10.0.dev1 (tested >=3.8.2,<3.10)"]),
        ("2.0.0rc1", "3.8.1", ["panel 2.0.0rc1 (tested >=1.9.0,<1.10)", "bokeh 3.8.1 (tested >=3.8.2,<3.10)"]),
    ],
)
def test_one_warning_when_panel_or_bokeh_is_outside_the_tested_range(
    monkeypatch, caplog, panel_version, bokeh_version, outside
):
    monkeypatch.setattr(pn, "__version__", panel_version)
    monkeypatch.setattr(bokeh, "__version__", bokeh_version)
    with caplog.at_level(logging.WARNING, logger=panel_compat.__name__):
        inside = panel_compat.check_versions()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert inside == (not outside)
    assert len(warnings) == (1 if outside else 0)
    assert all(item in warnings[0] for item in outside)


def test_the_warning_comes_at_import():
    code = (
        "import logging, panel; logging.basicConfig(format='%(levelname)s %(message)s'); "
        "panel.__version__ = '1.10.2'; import dashboard.server.panel_compat"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(lines) == 1 and "panel 1.10.2 (tested >=1.9.0,<1.10)" in lines[0]


def test_replacing_a_method_twice_wraps_the_original_not_the_wrapper():
    class Server:
        def handle(self, what):
            return [what]

    def first(self, what):
        return ["first", *original_method(Server, "handle")(self, what)]

    def second(self, what):  # e.g. a second copy of guard.py (run as a --setup script, then imported)
        return ["second", *original_method(Server, "handle")(self, what)]

    original = Server.handle
    assert replace_method(Server, "handle", first) is original
    assert Server().handle("page") == ["first", "page"]
    assert replace_method(Server, "handle", second) is original
    assert Server().handle("page") == ["second", "page"]
    assert original_method(Server, "handle") is original


def test_the_guard_and_the_refusals_wrap_bokeh_once():
    from dashboard.server import guard, refusal

    guard.install()
    guard.install()
    refusal.install()
    refusal.install()
    assert guard.installed()
    # BokehTornado inherits find_handler from Tornado: the guard's wrapper calls Tornado's own.
    assert original_method(BokehTornado, "find_handler") is Application.find_handler
    wrapped = original_method(patch_doc, "apply_to_document")
    assert getattr(wrapped, panel_compat.ORIGINAL, None) is None and wrapped.__module__.startswith("bokeh.")
