"""One group commit of the SQLite event log: many appends, one transaction.

Runs in the database's writer thread, inside ``BEGIN IMMEDIATE`` (see
``Database.write``). Each append gets a ``SAVEPOINT``: its version check (and its run
number, its run index row) either holds and it stays, or it is rolled back alone and
its caller gets the error, while the others commit. Appends are applied in queue
order and given the next seqs explicitly, so ``seq`` is commit order, and each is
sealed into the hash chain (``chain.py``) in that same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xxci.common.errors import ConflictError
from xxci.common.events import Event, RecordedEvent, RunCreated, encode_event, run_stream
from xxci.orchestrator.store._sqlite import parse_time
from xxci.orchestrator.store.chain import GENESIS, event_hash
from xxci.orchestrator.store.run_index import (
    insert_runs,
    pipeline_name,
    record_finished,
    row_from_event,
)

__all__ = ["Append", "Outcome", "write_group"]


@dataclass(frozen=True)
class Append:
    """One append waiting for the writer.

    With ``make_run_created``, the stream is a new run's and its only event is made
    here, numbered after the pipeline's last run (``events`` is empty then).
    """

    stream: str
    expected_version: int
    events: Sequence[Event]
    at_text: str
    make_run_created: Callable[[int], RunCreated] | None = None
    pipeline: str = ""


Outcome = list[RecordedEvent] | Exception
"""What became of one append: its records, or the error its caller gets."""


def write_group(conn: sqlite3.Connection, appends: Sequence[Append]) -> list[Outcome]:
    """Apply ``appends`` in order inside the caller's transaction; one outcome each."""
    next_seq = _next_seq(conn)
    head = _head_hash(conn)
    outcomes: list[Outcome] = []
    for append in appends:
        conn.execute("SAVEPOINT append")
        try:
            recorded, sealed = _apply(conn, append, next_seq, head)
        except Exception as exc:  # the caller's to handle: this append alone fails
            conn.execute("ROLLBACK TO append")
            conn.execute("RELEASE append")
            if isinstance(exc, sqlite3.IntegrityError):
                exc = ConflictError(f"stale append to stream {append.stream!r}: {exc}")
            outcomes.append(exc)
            continue
        conn.execute("RELEASE append")
        next_seq += len(recorded)
        head = sealed
        outcomes.append(recorded)
    return outcomes


def _head_hash(conn: sqlite3.Connection) -> str:
    """The hash of the log's last event: what the next one chains from."""
    row = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS if row is None else str(row[0] or "")


def _next_seq(conn: sqlite3.Connection) -> int:
    """The seq AUTOINCREMENT would give next (never one used before, even if deleted)."""
    row = conn.execute(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
        " COALESCE((SELECT MAX(seq) FROM events), 0)) + 1"
    ).fetchone()
    return int(row[0])


def _apply(
    conn: sqlite3.Connection, append: Append, first_seq: int, head: str
) -> tuple[list[RecordedEvent], str]:
    """Insert one append's events after ``head``; its records and the new head."""
    stream, events = append.stream, append.events
    if append.make_run_created is not None:
        events = [_numbered(conn, append)]
    current = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,)
    ).fetchone()[0]
    if current != append.expected_version:
        raise ConflictError(
            f"stream {stream!r} is at version {current}, not {append.expected_version}:"
            " re-read and retry"
        )
    at = parse_time(append.at_text)
    rows = []
    recorded = []
    for offset, event in enumerate(events):
        seq, version = first_seq + offset, append.expected_version + offset + 1
        type_name, data = encode_event(event)
        head = event_hash(head, stream, version, type_name, data, append.at_text)
        rows.append((seq, stream, version, type_name, data, append.at_text, head))
        recorded.append(RecordedEvent(seq=seq, stream=stream, version=version, at=at, event=event))
    conn.executemany(
        "INSERT INTO events (seq, stream, version, type, data, at, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    created = [row_from_event(r) for r in recorded if isinstance(r.event, RunCreated)]
    if created:
        insert_runs(conn, created)
    record_finished(conn, recorded)
    return recorded, head


def _numbered(conn: sqlite3.Connection, append: Append) -> RunCreated:
    """The new run's ``RunCreated``, with the pipeline's next number."""
    assert append.make_run_created is not None
    run_id = append.stream.removeprefix("run:")
    number = conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = ?", (append.pipeline,)
    ).fetchone()[0]
    event = append.make_run_created(number)
    if (run_stream(event.run_id), pipeline_name(event), event.number) != (
        append.stream,
        append.pipeline,
        number,
    ):
        raise ValueError(
            f"make_event({number}) made run {event.run_id!r} of "
            f"{pipeline_name(event)!r} #{event.number}, expected {run_id!r} of "
            f"{append.pipeline!r} #{number}"
        )
    return event
