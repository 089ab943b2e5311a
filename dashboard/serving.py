"""How this server process serves pages to a class: the Host/Origin guard and session reuse.

`configure_server()` runs once per server process, from the `--setup` script (`warmup.py`) before
the first request, or from the app on its first session when no setup script was given.

Session reuse (Panel's `reuse_sessions`): the page's HTML (the template, identical for every
student) is rendered from one kept session, and each student's own session is built when the
browser's websocket connects. A page is then built once per student, on the process that serves
the websocket. Without it, the GET builds a session too, and with `--num-procs 2` (no session
affinity: the GET and the websocket land on either process) about half the pages were built twice.
Nothing on the page depends on the URL at HTML time: the settings in the URL are read by the
session itself (`pn.state.location`), so reusing the HTML is safe.
"""

from __future__ import annotations

import panel as pn

from dashboard import guard


def configure_server() -> None:
    """Guard every request (Host/Origin allowlist) and reuse the page's HTML across sessions (idempotent)."""
    guard.install()
    pn.config.reuse_sessions = True
