"""Events as the audit shows them: the JSON document of one recorded event, and its
fields in one short line.

``xxci events`` (text and ``--format json``), the web view's events page and its
live feeds all render events with these two functions.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from xxci.common.events import RecordedEvent, RunCreated, encode_event

__all__ = ["event_document", "event_fields"]


def event_document(rec: RecordedEvent) -> dict[str, Any]:
    """``{"seq", "stream", "version", "type", "data", "at"}``: ``data`` holds the
    event's complete fields, ``at`` the UTC time (RFC 3339)."""
    type_name, data = encode_event(rec.event)
    return {
        "seq": rec.seq,
        "stream": rec.stream,
        "version": rec.version,
        "type": type_name,
        "data": json.loads(data),
        "at": rec.at.isoformat(),
    }


def event_fields(rec: RecordedEvent) -> str:
    """``job=unit attempt=1 status=FAILED``: the fields in declared order, empty ones
    left out, a run's resolved pipeline shown as its name."""
    _, data = encode_event(rec.event)
    encoded: dict[str, Any] = json.loads(data)
    fields = {f.name: encoded[f.name] for f in dataclasses.fields(rec.event)}
    if isinstance(rec.event, RunCreated):
        fields["pipeline"] = fields["pipeline"].get("name", "?")
    return " ".join(
        f"{key}={_field(value)}" for key, value in fields.items() if value not in ("", None, [])
    )


def _field(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() for c in value) else json.dumps(value)
    return json.dumps(value, separators=(",", ":"))
