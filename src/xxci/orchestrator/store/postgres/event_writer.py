"""One group commit of the PostgreSQL event log: many appends, one transaction.

The transaction first locks the single ``log_head`` row (``SELECT ... FOR UPDATE``):
appends of every orchestrator on the database wait for one another there, so each
group numbers its events after the last committed one and ``seq`` order is commit
order. Each append's version check (and its run number) is made under that lock, so
it still holds at commit; a stale one fails alone with ConflictError while the others
commit. Events are sealed into the hash chain in seq order, the head row is moved to
the last one, and ``pg_notify`` tells every listener the new last seq when (and only
if) the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from xxci.common.errors import ConflictError
from xxci.common.events import RecordedEvent, RunCreated, encode_event, run_stream
from xxci.orchestrator.store._sqlite import parse_time
from xxci.orchestrator.store.chain import event_hash
from xxci.orchestrator.store.event_writer import Append, Outcome
from xxci.orchestrator.store.run_index import (
    COLUMNS,
    finishes_run,
    pipeline_name,
    row_from_event,
)
from xxci.orchestrator.store.run_index import row_params as run_params

__all__ = ["EVENTS_CHANNEL", "write_group"]

EVENTS_CHANNEL = "xxci_events"

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def write_group(conn: Conn, appends: Sequence[Append]) -> tuple[list[Outcome], int]:
    """Apply ``appends`` in order inside the caller's transaction; one outcome each,
    and the new last seq (unchanged if nothing was appended)."""
    cur = await conn.execute(b"SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE")
    row = await cur.fetchone()
    assert row is not None, "the schema creates the log_head row"
    last_seq, head = int(row[0]), str(row[1])
    start = last_seq
    outcomes: list[Outcome] = []
    for append in appends:
        try:
            recorded, sealed = await _apply(conn, append, last_seq + 1, head)
        except (ConflictError, ValueError) as exc:  # decided before anything was written
            outcomes.append(exc)
            continue
        last_seq += len(recorded)
        head = sealed
        outcomes.append(recorded)
    if last_seq != start:
        await conn.execute(
            b"UPDATE log_head SET seq = %s, hash = %s WHERE id = 1", (last_seq, head)
        )
        await conn.execute(b"SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, str(last_seq)))
    return outcomes, last_seq


async def _apply(
    conn: Conn, append: Append, first_seq: int, head: str
) -> tuple[list[RecordedEvent], str]:
    stream, events = append.stream, append.events
    if append.make_run_created is not None:
        events = [await _numbered(conn, append)]
    cur = await conn.execute(
        b"SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = %s", (stream,)
    )
    found = await cur.fetchone()
    current = int(found[0]) if found is not None else 0
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
    async with conn.cursor() as cur:
        await cur.executemany(
            b"INSERT INTO events (seq, stream, version, type, data, at, hash)"
            b" VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        created = [
            run_params(row_from_event(r)) for r in recorded if isinstance(r.event, RunCreated)
        ]
        if created:
            marks = ", ".join(["%s"] * 10)
            await cur.executemany(
                f"INSERT INTO runs ({COLUMNS}) VALUES ({marks})".encode(), created
            )
        for rec in recorded:
            if finishes_run(rec):
                await cur.execute(
                    b"UPDATE runs SET finished_seq = %s WHERE stream = %s AND finished_seq IS NULL",
                    (rec.seq, rec.stream),
                )
    return recorded, head


async def _numbered(conn: Conn, append: Append) -> RunCreated:
    """The new run's ``RunCreated``, with the pipeline's next number."""
    assert append.make_run_created is not None
    cur = await conn.execute(
        b"SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = %s", (append.pipeline,)
    )
    found = await cur.fetchone()
    number = int(found[0]) if found is not None else 1
    event = append.make_run_created(number)
    if (run_stream(event.run_id), pipeline_name(event), event.number) != (
        append.stream,
        append.pipeline,
        number,
    ):
        raise ValueError(
            f"make_event({number}) made run {event.run_id!r} of "
            f"{pipeline_name(event)!r} #{event.number}, expected "
            f"{append.stream.removeprefix('run:')!r} of {append.pipeline!r} #{number}"
        )
    return event
