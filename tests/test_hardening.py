"""Hostile inputs, one test per defect: a foreign Host/Origin, a crafted Train tab, odd model files,
concurrent saves, sweep results that break the Generalisation tab, values the sidebar refuses."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
from support import wait_until

import core
from benchmarks.local_server import local_server

ROOT = Path(__file__).resolve().parents[1]


# Each test gets an empty user model cache (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("user_cache")


# -- 1. Host / Origin allowlist ----------------------------------------------------------------


def test_the_allowlist_checks_host_and_origin():
    from dashboard.server.guard import refusal

    allowed = {"127.0.0.1:5006"}
    assert refusal({"Host": "127.0.0.1:5006"}, allowed) is None
    assert refusal({"Host": "127.0.0.1:5006", "Origin": "http://127.0.0.1:5006"}, allowed) is None
    # DNS rebinding: Origin equal to Host, both foreign. Tornado lets this through on its own.
    assert "evil.example" in refusal({"Host": "evil.example:5006", "Origin": "http://evil.example:5006"}, allowed)
    assert "Origin" in refusal({"Host": "127.0.0.1:5006", "Origin": "http://evil.example:5006"}, allowed)
    assert refusal({}, allowed) is not None  # HTTP/1.0 without a Host
    assert refusal({"Host": "127.0.0.1:5006", "Origin": "null"}, allowed) is not None


def _raw_get(
    port: int, path: str, host: str, origin: str | None = None, websocket: bool = False, protocol: str = "bokeh"
) -> tuple[int, str]:
    """A hand-written HTTP/1.1 request (the headers exactly as given); returns (status, body start)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {key}",
            f"Sec-WebSocket-Protocol: {protocol}",
        ]
    else:
        lines.append("Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=180) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if websocket:  # the handshake's reply is all we need
                break
    text = b"".join(chunks).decode(errors="replace")
    return int(text.split(" ", 2)[1]), text


@pytest.fixture
def readme_server(tmp_path):
    """`panel serve dashboard/app.py` without the README's `--setup`: the app's own guard must refuse
    a foreign host from the process's very first request. A free loopback port, its own process group."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    with local_server(env=env, log_path=tmp_path / "serve.log", timeout_s=120, poll_s=0.3) as port:
        yield port


def test_a_foreign_host_gets_no_page_and_no_websocket(readme_server):
    port = readme_server
    evil, good = f"evil.example:{port}", f"127.0.0.1:{port}"
    # The very first request of the process: refused by the app itself (a bare page, no dashboard).
    status, body = _raw_get(port, "/app", evil, f"http://{evil}")
    assert 'id="sidebar"' not in body
    # From then on, every request under a foreign Host or Origin: 403 before any handler runs.
    assert _raw_get(port, "/app", evil, f"http://{evil}")[0] == 403
    assert _raw_get(port, "/app", evil)[0] == 403
    assert _raw_get(port, "/app/ws", evil, f"http://{evil}", websocket=True)[0] == 403
    assert _raw_get(port, "/app/ws", good, f"http://{evil}", websocket=True)[0] == 403
    assert _raw_get(port, "/liveness", evil)[0] == 403
    # The allowed host still gets the page, and the websocket upgrade with the page's session token
    # (without one it is refused before the upgrade: dashboard/server/guard.py, `websocket_refusal`).
    status, body = _raw_get(port, "/app", good)
    assert status == 200 and 'id="sidebar"' in body  # the dashboard's template
    token = re.search(r'"token":\s*"([^"]+)"', body).group(1)
    assert _raw_get(port, "/app/ws", good, f"http://{good}", websocket=True, protocol=f"bokeh, {token}")[0] == 101
    assert _raw_get(port, "/app/ws", good, f"http://{good}", websocket=True)[0] == 403


# -- 1b. requests that used to stop, hang or crash the server ------------------------------------


@pytest.fixture
def readme_command_server(tmp_path):
    """The README's command: `panel serve dashboard/app.py --setup dashboard/server/serving.py` (+ the port)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "serve.log"
    with local_server(
        ["--setup", "dashboard/server/serving.py"], env=env, log_path=log, timeout_s=180, poll_s=0.3
    ) as port:
        yield port, log


def _token(payload: dict) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return encoded + ".signature"


CRAFTED_PATHS = [
    "/components/core.__main__/x/__css__/y",  # stopped the server: core/__main__.py ran the CLI at import
    "/components/this/x/__css__/y",  # imported `this` (the Zen of Python in the server's log)
    "/components/..%2f..%2f..%2fetc%2fpasswd",  # a 500 with a traceback
    "/components/os/path/__css__/y",  # an imported module, but no component
    "/components/dashboard.app/Dashboard/__css__/y",  # one of ours, not a resource of the page
    "/components/panel.template.bootstrap/BootstrapTemplate/_css/..%2f..%2f..%2fetc%2fpasswd",  # not listed
    "/components/x",
    "/components/",
]


def test_crafted_requests_get_a_clean_4xx_and_the_server_keeps_serving(readme_command_server):
    port, log = readme_command_server
    good = f"127.0.0.1:{port}"
    for path in CRAFTED_PATHS:
        status, _ = _raw_get(port, path, good)
        assert 400 <= status < 500, (path, status)
    assert _raw_get(port, CRAFTED_PATHS[0], good)[0] == 404  # no such component: nothing imported
    for protocol in ("bokeh, garbage", "bokeh", "bokeh, " + _token({"session_id": "x"}), "chat, x"):
        status, _ = _raw_get(port, "/app/ws", good, f"http://{good}", websocket=True, protocol=protocol)
        assert status == 403, (protocol, status)
    # Still alive and serving the page, and nothing that was asked for was imported or ran.
    status, body = _raw_get(port, "/app", good)
    assert status == 200 and 'id="sidebar"' in body
    text = log.read_text()
    assert "Traceback" not in text and "Beautiful is better than ugly" not in text and "invalid choice" not in text
    # One line each, before any handler runs (the first path twice; the unlisted file is Panel's own 403).
    assert text.count("refused GET '/components/") == len(CRAFTED_PATHS) - 1 + 1


def test_no_module_of_ours_does_work_at_import(tmp_path):
    """Importing every module of `core` and `dashboard` (as Panel's component route once did, with a
    server's command line in sys.argv) exits nothing, prints nothing and writes no file."""
    import subprocess
    import sys

    names = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("core", "dashboard")
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    script = (
        "import importlib, sys\n"
        "sys.argv = ['panel', 'serve', 'dashboard/app.py']\n"
        f"for name in {names!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException as exc:\n"
        "        print('FAILED', name, repr(exc)); raise SystemExit(1)\n"
    )
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr[-2000:]
    assert list(work.iterdir()) == [] and not (tmp_path / "cache").exists()  # no file written


def test_the_teacher_token_is_compared_exactly():
    from dashboard.server import teacher

    assert teacher.is_teacher("s3cret", "s3cret")
    assert not teacher.is_teacher(" s3cret ", "s3cret") and not teacher.is_teacher("s3cret\n", "s3cret")
    # A token configured with spaces around it is kept as given (the URL must carry them), and said.
    assert teacher.configured_token(["--teacher-token", " s3cret "]) == " s3cret "
    assert not teacher.is_teacher("s3cret", " s3cret ") and teacher.is_teacher(" s3cret ", " s3cret ")


# -- 3. odd model files --------------------------------------------------------------------------


def _with_header(path: Path, **changes) -> None:
    """Rewrite a model file's JSON header line (its weights unchanged)."""
    header_line, weights = path.read_bytes().split(b"\n", 1)
    header = json.loads(header_line)
    header.update(changes)
    path.write_bytes(json.dumps(header).encode() + b"\n" + weights)


@pytest.mark.parametrize("info", [[], None, "a string", 7, [1, 2]])
def test_an_odd_model_header_is_skipped_and_named(user_cache, info):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.models import registry

    config = core.TrainingConfig(steps=1, batch_size=2)
    good = core.save_model(user_cache / "good.eqx", core.build_model(config), config, info={"final_loss": 0.5})
    odd = core.save_model(user_cache / "odd.eqx", core.build_model(config), config)
    _with_header(odd, info=info)
    registry.refresh(force=True)  # raised before: every new page was blank
    assert any("odd.eqx" in message for message in registry.skipped)
    keys = list(registry.options().values())
    assert f"user/{good.name}" in keys and f"user/{odd.name}" not in keys
    state = ExperimentState()  # a new page builds and solves
    assert state.error == "" and state.experiment is not None


# -- 4. concurrent saves -------------------------------------------------------------------------


def test_concurrent_saves_in_the_same_second_keep_every_model(user_cache, monkeypatch):
    import threading

    from dashboard.training import models

    monkeypatch.setattr(models.time, "strftime", lambda fmt: "20260101-120000")  # all in one second
    config = core.TrainingConfig(steps=1, batch_size=2)
    trained = [core.build_model(config, key=__import__("jax").random.PRNGKey(i)) for i in range(6)]
    barrier, entries, errors = threading.Barrier(6), [None] * 6, []

    def save(i):
        barrier.wait()
        try:
            entries[i] = models.registry.save_trained(trained[i], config, {"final_loss": float(i)})
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = {e.key for e in entries}
    assert len(names) == 6  # six files, none overwritten
    losses = sorted(core.read_model_header(user_cache / key.split("/", 1)[1])["info"]["final_loss"] for key in names)
    assert losses == [float(i) for i in range(6)]
    assert list(user_cache.glob("*.tmp")) == []


def test_a_save_never_replaces_another_model_and_cleans_stale_temporaries(tmp_path):
    config = core.TrainingConfig(steps=1, batch_size=2)
    model = core.build_model(config)
    target = tmp_path / "m.eqx"
    stale, fresh = tmp_path / "crashed.eqx.tmp", tmp_path / "m.123-abcd.eqx.tmp"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"another process, saving now")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    core.save_model(target, model, config, info={"who": "first"})
    with pytest.raises(FileExistsError):
        core.save_model(target, model, config, info={"who": "second"})
    assert core.read_model_header(target)["info"] == {"who": "first"}
    assert not stale.exists() and fresh.exists()  # only the stale one is cleaned up
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.eqx", fresh.name])
    with pytest.raises(IsADirectoryError):
        core.save_model(tmp_path, model, config, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.eqx", fresh.name])  # no stray file


# -- 6. crafted values from the browser, on every tab -------------------------------------------

BANNER = "That value was refused"


def _browser_patch(doc, model, **changes) -> None:
    """What the server does with a browser's change: a PATCH-DOC message applied to the session's
    document, exactly as Bokeh's server applies it (values encoded as BokehJS encodes them)."""
    from bokeh.core.serialization import Serializer
    from bokeh.protocol.messages.patch_doc import patch_doc

    events = [
        {"kind": "ModelChanged", "model": {"id": model.id}, "attr": attr, "new": Serializer().encode(value)}
        for attr, value in changes.items()
    ]
    patch_doc({}, {}, {"events": events}).apply_to_document(doc, setter=object())


def _shown(view):
    """`view` rendered in a document of its own, as a page shows it."""
    import panel as pn
    from bokeh.document import Document

    doc = Document()
    doc.add_root(pn.panel(view).get_root(doc))
    return doc


def _model(doc, kind: str, title: str):
    """The Bokeh model a browser would find: by its type and the start of its title (or labels)."""
    for m in doc.models:
        text = str(getattr(m, "title", None) or getattr(m, "labels", None) or "")
        if type(m).__name__.endswith(kind) and text.startswith(title):
            return m
    raise LookupError(f"no {kind} titled {title!r}")


def _banner(doc) -> str:
    """The refusal banner's text as the page shows it ('' when none is shown)."""
    texts = [str(m.text) for m in doc.models if "text" in m.properties() and BANNER in str(m.text) and m.visible]
    return texts[0] if texts else ""


def _probe(doc, model, attr, sent, caplog) -> tuple[str, list]:
    """Send `attr` = `sent` from the browser; returns the banner and the values the browser was sent back."""
    from bokeh.document.events import ModelChangedEvent

    sent_back = []

    def record(event):
        if isinstance(event, ModelChangedEvent) and event.model is model and event.attr == attr:
            sent_back.append(event.new)

    doc.on_change(record)
    caplog.clear()
    _browser_patch(doc, model, **{attr: sent})
    doc.remove_on_change(record)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and BANNER in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]  # one line per refusal
    assert not [r for r in caplog.records if r.levelno >= 40 or r.exc_info], "an error or a traceback was logged"
    return _banner(doc), sent_back


NAN, INF = float("nan"), float("inf")
SIDEBAR_PROBES = [
    (
        "Slider",
        "Observe every",
        "value_throttled",
        NAN,
        ["Observe every N steps nan", "not a finite number", "at most 25"],
    ),
    ("Slider", "Observe every", "value", INF, ["inf", "not a finite number"]),
    ("Slider", "Observation noise", "value_throttled", 1e308, ["1e+308", "out of range", "at most 5.0"]),
    ("Slider", "Problem seed", "value_throttled", -1, ["Problem seed -1", "out of range", "at least 0"]),
    ("Slider", "Problem seed", "value_throttled", "abc", ["Problem seed “abc”", "not a number"]),
    ("Slider", "FourDVarNet steps", "value_throttled", 2.5, ["2.5", "not a whole number"]),
    ("Slider", "4DVar iteration cap", "value_throttled", 99, ["position 99", "not one of the caps"]),
    ("Slider", "4DVar iteration cap", "value_throttled", INF, ["position inf", "not one of the caps"]),
    ("RadioButtonGroup", "['attractor'", "active", 99, ["Problem 99", "not one of attractor, seed"]),
    ("RadioButtonGroup", "['attractor'", "active", -1, ["Problem -1", "not one of attractor, seed"]),
    ("RadioButtonGroup", "['attractor'", "active", NAN, ["Problem nan", "not one of attractor, seed"]),
    ("CheckboxButtonGroup", "['x'", "active", [99], ["Observed components [99]", "not one of the options x, y, z"]),
    ("CheckboxButtonGroup", "['x'", "active", [], ["Observed components []", "at least one component"]),
    ("CheckboxGroup", "['truth'", "active", [0, 0], ["Shown", "checked twice"]),
    ("Select", "Trained FourDVarNet", "value", "", ["Trained FourDVarNet “”", "not one of"]),
    ("Select", "Trained FourDVarNet", "value", "assets/not-listed.eqx", ["“assets/not-listed.eqx”", "not one of"]),
    ("Spinner", "Problem seed (type it)", "value", None, ["Problem seed None", "not a number"]),
    ("Spinner", "Problem seed (type it)", "value", 10_000, ["Problem seed 10000", "at most 9999"]),
]


def test_every_crafted_sidebar_value_is_refused_said_and_sent_back(caplog):
    from dashboard.data.compute import run_experiment
    from dashboard.state.explore import ExperimentState
    from dashboard.views.controls import Controls

    state = ExperimentState(solve=run_experiment)
    doc = _shown(Controls(state=state))
    before, settings = state.experiment, state.param.values()
    for kind, title, attr, sent, words in SIDEBAR_PROBES:
        model = _model(doc, kind, title)
        in_browser = getattr(model, attr)
        banner, sent_back = _probe(doc, model, attr, sent, caplog)
        for word in words:
            assert word in banner, (title, sent, banner)
        assert sent_back == [in_browser], (title, sent)  # the browser's widget is sent the value in use
        assert state.experiment is before and state.param.values() == settings  # nothing applied
    # The next valid move is applied and clears the banner.
    _browser_patch(doc, _model(doc, "Slider", "Problem seed"), value=7, value_throttled=7)
    assert state.seed == 7 and state.experiment is not before and _banner(doc) == ""


def test_every_crafted_train_value_is_refused_said_and_sent_back(caplog):
    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainView

    view = TrainView(state=ExperimentState())
    doc = _shown(view)
    settings = view.settings.param.values()
    probes = [
        ("Slider", "Training problems", "value", NAN, ["Training problems per step (batch) nan", "not a finite"]),
        ("Slider", "Training problems", "value", INF, ["inf", "at most 128"]),
        ("Slider", "Training steps", "value", NAN, ["Training steps nan", "not a finite number"]),
        ("Slider", "Training steps", "value", 1e308, ["1e+308", "at most 1000"]),
        ("Slider", "Training steps", "value", "abc", ["“abc”", "not a number"]),
        ("RadioButtonGroup", "[", "active", 99, ["Start 99", "not one of"]),
        ("TextInput", "Model name", "value", None, ["Model name None", "not text"]),
        ("TextInput", "Model name", "value", 5, ["Model name 5", "not text"]),
    ]
    for kind, title, attr, sent, words in probes:
        model = _model(doc, kind, title)
        in_browser = getattr(model, attr)
        banner, sent_back = _probe(doc, model, attr, sent, caplog)
        for word in words:
            assert word in banner, (title, sent, banner)
        assert sent_back == [in_browser] and view.settings.param.values() == settings, (title, sent)
    _browser_patch(doc, _model(doc, "Slider", "Training steps"), value=40)
    assert view.config().steps == 40 and _banner(doc) == ""


def test_every_crafted_landscape_value_is_refused_said_and_sent_back(caplog):
    from dashboard.state.explore import ExperimentState
    from dashboard.views.landscape_view import LandscapeView

    view = LandscapeView(state=ExperimentState(solve=lambda settings: None))
    doc = _shown(view)
    # The slider while dragged (value) and released (value_throttled).
    for attr, sent, words in [
        ("value", NAN, ["Extent", "nan", "not a finite"]),
        ("value_throttled", INF, ["inf", "not a finite"]),
        ("value", 1e308, ["1e+308", "out of range", "at most 5.0"]),
        ("value_throttled", -1, ["-1", "out of range", "at least 0.25"]),
    ]:
        model = _model(doc, "Slider", "Extent")
        banner, sent_back = _probe(doc, model, attr, sent, caplog)
        assert all(word in banner for word in words), banner
        assert sent_back == [getattr(model, attr)] and view.slice.extent == 3.0
    banner, _ = _probe(doc, _model(doc, "RadioButtonGroup", "["), "active", 7, caplog)
    assert "Plane 7" in banner and view.slice.plane == "x-z"


def test_a_value_bokeh_cannot_hold_is_one_line_and_sent_back_and_the_rest_of_the_change_applies(caplog):
    from bokeh.document import Document
    from bokeh.document.events import ModelChangedEvent
    from bokeh.models import Slider

    from dashboard.server import refusal

    refusal.install()  # (done by every page that guards a widget)
    doc, odd, other = Document(), Slider(start=0, end=10, value=3), Slider(start=0, end=10, value=3)
    doc.add_root(odd)
    doc.add_root(other)
    sent_back = []
    doc.on_change(lambda e: sent_back.append((e.model, e.new)) if isinstance(e, ModelChangedEvent) else None)
    caplog.clear()
    # One browser message: a string no slider can hold (not guarded), and a usable value on another.
    _browser_patch(doc, odd, value="abc")
    _browser_patch(doc, other, value=7)
    odd_then_other = [
        {"kind": "ModelChanged", "model": {"id": odd.id}, "attr": "value", "new": "xyz"},
        {"kind": "ModelChanged", "model": {"id": other.id}, "attr": "value", "new": 8},
    ]
    from bokeh.protocol.messages.patch_doc import patch_doc

    patch_doc({}, {}, {"events": odd_then_other}).apply_to_document(doc, setter=object())
    assert odd.value == 3 and other.value == 8  # the usable part of each change applies
    assert sent_back.count((odd, 3)) == 2  # the browser's copy is sent the server's value each time
    lines = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(lines) == 2 and "abc" in lines[0].getMessage() and not any(r.exc_info for r in lines)
    assert not [r for r in caplog.records if r.levelno >= 40]


# -- 7. sweep results that break the Generalisation tab ---------------------------------------


def _view(payload):
    from dashboard.state.explore import ExperimentState
    from dashboard.views.generalisation import GeneralisationView

    view = GeneralisationView(state=ExperimentState(), lazy=True)
    view.load(payload, "crafted")
    return view


def test_more_models_than_colours_still_draws_and_says_so():
    from support import known_payload
    from support import sweep_row as _row

    payload = known_payload()
    payload["rows"] += [_row("density", f"model{i:02d}", 1.1, 0.3, 5, "xyz", every=5) for i in range(30)]
    view = _view(payload)
    assert not view.message.visible and view.heatmap_pane.visible and view.density_pane.visible
    assert view.note.visible and "34 models" in view.note.object  # 4 known + 30
    labels = set(view.heatmap_source.data["label"])
    assert {"model00 (every 5)", "model29 (every 5)"} <= labels


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -3, 2.5, "five"])
def test_an_unusable_test_setting_loses_its_row_only(tmp_path, bad):
    from support import known_payload

    from dashboard.data.generalisation_data import load_results

    payload = known_payload()
    victim = next(i for i, r in enumerate(payload["rows"]) if r["model"] == "every10" and r["axis"] == "density")
    payload["rows"][victim]["test_obs_every"] = bad
    path = tmp_path / "results.json"
    path.write_text(json.dumps(payload))  # Infinity and NaN as Python's json writes them
    view = _view(load_results(path))
    assert not view.message.visible and view.heatmap_pane.visible
    assert view.note.visible and f"row {victim}" in view.note.object and "test_obs_every" in view.note.object
    n_density = sum(r["axis"] == "density" and r["model"] != "strong_4dvar" for r in payload["rows"])
    assert len(view.heatmap_source.data["model"]) == n_density - 1


@pytest.mark.parametrize("index", [10**6, -1, "0", 2.0, None])
def test_a_crafted_heatmap_selection_is_refused_and_the_tab_keeps_working(index):
    from support import known_payload

    view = _view(known_payload())
    view._on_tap("indices", [], [index])  # what a crafted selection from the browser triggers
    assert "cannot be opened" in view.picked.object and "no cell" in view.picked.object
    assert view.heatmap_source.selected.indices == []
    assert view.pick(0)  # a real cell still opens
    assert "Opened in Explore" in view.picked.object


# -- 2. Train tab bounds, memory, cancel; 8. lower priority --------------------------------------


@pytest.mark.parametrize("widget, value", [("n_train_steps", 1_000_000), ("n_problems", 100_000), ("n_problems", 3)])
def test_the_train_tab_bounds_hold_on_the_server(widget, value):
    from dashboard.server.browser_patch import browser_sends
    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainView

    view = TrainView(state=ExperimentState())
    browser_sends(getattr(view, widget), value=value, value_throttled=value)  # as a crafted browser sends it
    banner = view.refusals.banner
    assert banner.visible and "out of range: it must be at least" in banner.object and str(value) in banner.object
    config = view.config()
    defaults = (view.settings.param.steps.default, view.settings.param.batch_size.default)
    assert (config.steps, config.batch_size) == defaults
    assert getattr(view, widget).value in defaults  # the widget shows the value in use


def test_a_batch_that_does_not_fit_in_memory_is_refused_before_allocating(monkeypatch):
    import core.io.resources
    from dashboard.state.explore import ExperimentState
    from dashboard.views.train import TrainingJob, TrainView

    monkeypatch.setattr(core.io.resources, "available_memory_bytes", lambda: 1.0e9)  # a small machine
    view = TrainView(state=ExperimentState())
    view.settings.batch_size = 128  # ~0.84 GB estimated: more than half of the 1 GB available
    assert view.runner.start() is None and TrainingJob.current is None
    assert "would need about" in view.runner.status.object and "GB" in view.runner.status.object


@pytest.mark.slow
@pytest.mark.ci  # ~15 s of compiles: outside the README's command, run by CI in a step of its own (.ci/run)
def test_a_training_runs_niced_and_the_trainer_or_the_teacher_can_cancel_it(user_cache):
    from dashboard.state.explore import ExperimentState
    from dashboard.training.train_worker import NICE
    from dashboard.views.train import TrainingJob, TrainView

    view = TrainView(state=ExperimentState())
    view.settings.param.update(steps=1000, batch_size=8)
    job = view.runner.start()
    assert job is not None and view.runner.cancel_button.visible
    wait_until(lambda: job.done or (job.process is not None and job.steps), 120, "the worker's first step")
    assert not job.done, job.error
    assert os.getpriority(os.PRIO_PROCESS, job.process.pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + NICE, 19)
    assert view.runner.cancel()  # the trainer's button
    job.thread.join(timeout=30)
    assert job.done and job.error == "Training was cancelled." and job.process.returncode != 0
    assert len(job.steps) < 1000 and list(user_cache.glob("*.eqx")) == []  # nothing saved
    view.runner.poll()
    assert "cancelled" in view.runner.status.object and not view.runner.button.disabled
    # The teacher's cancel, with no trainer's page at hand.
    second = TrainingJob.start(core.TrainingConfig(steps=1000, batch_size=8))
    assert second is not None and TrainingJob.cancel_current()
    second.thread.join(timeout=30)
    assert second.done and second.error == "Training was cancelled." and TrainingJob.current is None
