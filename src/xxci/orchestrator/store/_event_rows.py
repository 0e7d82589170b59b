"""The ``events`` table of the SQLite log: its schema and how a row becomes an event.

Schema (created if missing, so a file written by an older xxci opens as is)::

    events(seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- global order, never reused
           stream TEXT, version INTEGER,             -- per-stream position, 1-based
           type TEXT, data TEXT (JSON), at TEXT (ISO-8601 UTC, microseconds),
           hash TEXT,                                -- the hash chain, see chain.py
           UNIQUE (stream, version))
    log_meta(name TEXT PRIMARY KEY, value TEXT)      -- e.g. where the chain was added

The ``UNIQUE (stream, version)`` index is also the stream index: every stream lookup
(read, current version, stream names) is a range scan of it, so there is no second one
to slow appends down.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from xxci.common.events import RecordedEvent, decode_event
from xxci.orchestrator.store._sqlite import parse_time

__all__ = ["EVENTS_SCHEMA", "EVENT_COLUMNS", "decode_row", "decode_rows", "gc_paused"]

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    stream  TEXT NOT NULL,
    version INTEGER NOT NULL,
    type    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      TEXT NOT NULL,
    hash    TEXT,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS log_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

EVENT_COLUMNS = "seq, stream, version, type, data, at"


def decode_row(row: sqlite3.Row) -> RecordedEvent:
    """A row selected as ``EVENT_COLUMNS``, decoded."""
    seq, stream, version, type_name, data, at = row
    return RecordedEvent(
        seq=seq,
        stream=stream,
        version=version,
        at=parse_time(at),
        event=decode_event(type_name, data),
    )


def decode_rows(rows: Iterable[sqlite3.Row]) -> list[RecordedEvent]:
    """Every row decoded (call it under :func:`gc_paused`)."""
    return [decode_row(row) for row in rows]


_pauses = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while reading and decoding many events.

    A read allocates several objects per event (the fetched row, the decoded dict, the
    event) and none of them can form a cycle; left on, the collector runs over and
    over during a long read and about doubles its cost. Pauses nest and overlap across
    tasks: the collector comes back (if it was on) when the last one ends.
    """
    global _pauses
    if _pauses == 0 and not gc.isenabled():
        yield  # someone else turned it off: not ours to turn back on
        return
    _pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0:
            gc.enable()
