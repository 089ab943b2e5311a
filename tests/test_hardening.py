"""Hostile inputs, one test per defect: a foreign Host/Origin, a crafted Train tab, odd model files,
concurrent saves, sweep results that break the Generalisation tab, values the sidebar refuses."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Each test gets an empty user model cache (shipped assets are still listed)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dashboard.models import registry

    registry.refresh(force=True)
    yield tmp_path / "cache" / "l63-fourdvarnet" / "models"
    registry.refresh(force=True)


# -- 1. Host / Origin allowlist ----------------------------------------------------------------


def test_the_allowlist_checks_host_and_origin():
    from dashboard.guard import refusal

    allowed = {"127.0.0.1:5006"}
    assert refusal({"Host": "127.0.0.1:5006"}, allowed) is None
    assert refusal({"Host": "127.0.0.1:5006", "Origin": "http://127.0.0.1:5006"}, allowed) is None
    # DNS rebinding: Origin equal to Host, both foreign. Tornado lets this through on its own.
    assert "evil.example" in refusal({"Host": "evil.example:5006", "Origin": "http://evil.example:5006"}, allowed)
    assert "Origin" in refusal({"Host": "127.0.0.1:5006", "Origin": "http://evil.example:5006"}, allowed)
    assert refusal({}, allowed) is not None  # HTTP/1.0 without a Host
    assert refusal({"Host": "127.0.0.1:5006", "Origin": "null"}, allowed) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw_get(port: int, path: str, host: str, origin: str | None = None, websocket: bool = False) -> tuple[int, str]:
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
            "Sec-WebSocket-Protocol: bokeh",
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
    """The README's first command, on a free loopback port, in its own process group."""
    port = _free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "panel", "serve", "dashboard/app.py", "--address", "127.0.0.1"]
    cmd += ["--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "panel serve did not come up"
            time.sleep(0.3)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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
    # The allowed host still gets the websocket upgrade and the page.
    assert _raw_get(port, "/app/ws", good, f"http://{good}", websocket=True)[0] == 101
    status, body = _raw_get(port, "/app", good)
    assert status == 200 and 'id="sidebar"' in body  # the dashboard's template
