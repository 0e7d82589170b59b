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
    reopens_run,
    row_from_event,
)
from xxci.orchestrator.store.run_index import row_params as run_params

__all__ = ["EVENTS_CHANNEL", "write_group"]

EVENTS_CHANNEL = "xxci_events"

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def write_group(conn: Conn, appends: Sequence[Append]) -> tuple[list[Outcome], int]:
    """Apply ``appends`` in order inside the caller's transaction; one outcome each,
    and the new last seq (unchanged if nothing was appended).

    A handful of statements for the whole group, however many appends it holds: the
    streams' versions and the pipelines' last run numbers are read once, each append
    is checked against them (and the ones before it in the group) here, and what
    holds is written by one INSERT per table.
    """
    cur = await conn.execute(b"SELECT seq, hash FROM log_head WHERE id = 1 FOR UPDATE")
    row = await cur.fetchone()
    assert row is not None, "the schema creates the log_head row"
    last_seq, head = int(row[0]), str(row[1])
    versions = await _versions(conn, sorted({a.stream for a in appends}))
    numbers = await _numbers(conn, sorted({a.pipeline for a in appends if a.make_run_created}))
    batch = _Batch()
    outcomes: list[Outcome] = []
    for append in appends:
        try:
            recorded, head = _apply(append, last_seq + 1, head, versions, numbers, batch)
        except (ConflictError, ValueError) as exc:  # decided before anything was written
            outcomes.append(exc)
            continue
        last_seq += len(recorded)
        outcomes.append(recorded)
    if batch.events:
        await batch.write(conn)
        await conn.execute(
            b"WITH moved AS (UPDATE log_head SET seq = %s, hash = %s WHERE id = 1 RETURNING seq)"
            b" SELECT pg_notify(%s, (SELECT seq FROM moved)::text)",
            (last_seq, head, EVENTS_CHANNEL),
        )
    return outcomes, last_seq


class _Batch:
    """The rows of a group's appends that hold, written together."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, int, str, str, str, str]] = []
        self.runs: list[Sequence[object]] = []
        self.finished: list[tuple[str, int]] = []
        self.reopened: list[str] = []

    async def write(self, conn: Conn) -> None:
        columns = list(zip(*self.events, strict=True))
        await conn.execute(
            b"INSERT INTO events (seq, stream, version, type, data, at, hash)"
            b" SELECT * FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[],"
            b" %s::text[], %s::text[], %s::text[])",
            [list(c) for c in columns],
        )
        if self.runs:
            marks = ", ".join(["%s"] * 10)
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO runs ({COLUMNS}) VALUES ({marks})".encode(), self.runs
                )
        if self.reopened:  # first: a run of this batch that finishes again stays finished
            await conn.execute(
                b"UPDATE runs SET finished_seq = NULL WHERE stream = ANY(%s)", (self.reopened,)
            )
        if self.finished:
            await conn.execute(
                b"UPDATE runs SET finished_seq = f.seq FROM unnest(%s::text[], %s::bigint[])"
                b" AS f(stream, seq) WHERE runs.stream = f.stream AND runs.finished_seq IS NULL",
                ([s for s, _ in self.finished], [q for _, q in self.finished]),
            )


async def _versions(conn: Conn, streams: list[str]) -> dict[str, int]:
    cur = await conn.execute(
        b"SELECT stream, MAX(version) FROM events WHERE stream = ANY(%s) GROUP BY stream",
        (streams,),
    )
    return {str(s): int(v) for s, v in await cur.fetchall()}


async def _numbers(conn: Conn, pipelines: list[str]) -> dict[str, int]:
    if not pipelines:
        return {}
    cur = await conn.execute(
        b"SELECT pipeline, MAX(number) FROM runs WHERE pipeline = ANY(%s) GROUP BY pipeline",
        (pipelines,),
    )
    return {str(p): int(n) for p, n in await cur.fetchall()}


def _apply(
    append: Append,
    first_seq: int,
    head: str,
    versions: dict[str, int],
    numbers: dict[str, int],
    batch: _Batch,
) -> tuple[list[RecordedEvent], str]:
    """Check one append against the group so far; add its rows to ``batch``."""
    stream, events = append.stream, append.events
    if append.make_run_created is not None:
        events = [_numbered(append, numbers.get(append.pipeline, 0) + 1)]
    current = versions.get(stream, 0)
    if current != append.expected_version:
        raise ConflictError(
            f"stream {stream!r} is at version {current}, not {append.expected_version}:"
            " re-read and retry"
        )
    at = parse_time(append.at_text)
    recorded = []
    for offset, event in enumerate(events):
        seq, version = first_seq + offset, append.expected_version + offset + 1
        type_name, data = encode_event(event)
        head = event_hash(head, stream, version, type_name, data, append.at_text)
        batch.events.append((seq, stream, version, type_name, data, append.at_text, head))
        recorded.append(RecordedEvent(seq=seq, stream=stream, version=version, at=at, event=event))
    versions[stream] = append.expected_version + len(events)
    for rec in recorded:
        if isinstance(rec.event, RunCreated):
            run = row_from_event(rec)
            batch.runs.append(run_params(run))
            numbers[run.pipeline] = max(numbers.get(run.pipeline, 0), run.number)
        if reopens_run(rec):
            batch.finished = [f for f in batch.finished if f[0] != rec.stream]
            batch.reopened.append(rec.stream)
        elif finishes_run(rec):
            batch.finished.append((rec.stream, rec.seq))
    return recorded, head


def _numbered(append: Append, number: int) -> RunCreated:
    """The new run's ``RunCreated``, with the pipeline's next number."""
    assert append.make_run_created is not None
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
