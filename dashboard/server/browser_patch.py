"""What a browser's change does on the server, for tests and benchmarks: a PATCH-DOC message applied
through the served page's own path (so the refusal of crafted values, dashboard/server/refusal.py,
screens it as it screens a real browser's)."""

from __future__ import annotations

from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.protocol.messages.patch_doc import patch_doc

from dashboard.server.refusal import CLASS_PREFIX, install


def browser_sends(widget, doc: Document | None = None, **changes) -> Document:
    """What a browser's change of `widget`'s Bokeh properties does on the server (`value=...`,
    `active=...`): a PATCH-DOC message applied through the same path as a served page's, to `doc`
    (where the widget is shown) or to a fresh document that shows it. For tests and benchmarks;
    returns the document."""
    install()
    if doc is None:
        doc = Document()
        doc.add_root(widget.get_root(doc))
    model = model_of(widget, doc)
    events = [
        {"kind": "ModelChanged", "model": {"id": model.id}, "attr": attr, "new": Serializer().encode(value)}
        for attr, value in changes.items()
    ]
    patch_doc({}, {}, {"events": events}).apply_to_document(doc, setter=object())
    return doc


def model_of(widget, doc: Document):
    """The Bokeh model of a guarded `widget` in `doc` (found by its CSS class); `ValueError` if none."""
    mine = {c for c in widget.css_classes if c.startswith(CLASS_PREFIX)}
    model = next((m for m in doc.models if mine & set(getattr(m, "css_classes", None) or ())), None)
    if model is None:
        raise ValueError(f"{widget.name!r} is not a guarded widget shown in this document")
    return model
