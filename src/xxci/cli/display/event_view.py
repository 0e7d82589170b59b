"""What ``xxci events`` prints: one aligned line, or one JSON object, per event."""

from __future__ import annotations

import json

from xxci.common.events import RecordedEvent
from xxci.orchestrator.views.audit import event_document, event_fields

__all__ = ["event_json", "event_line"]


def event_json(rec: RecordedEvent) -> str:
    """One JSONL line: seq, stream, version, type, data (the event's fields), at (UTC)."""
    return json.dumps(event_document(rec), sort_keys=True)


def event_line(rec: RecordedEvent) -> str:
    """``seq  time  stream  v  type  fields``; empty fields are left out, and a run's
    resolved pipeline shows as its name (``xxci events --format json`` has it all)."""
    at = rec.at.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    shown = event_fields(rec)
    return f"{rec.seq:>6}  {at}  {rec.stream:<19}  {rec.version:>3}  {rec.event.type:<18}  {shown}"
