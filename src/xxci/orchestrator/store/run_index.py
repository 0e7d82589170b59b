"""The run index: one row per ``RunCreated``, for queries that must not replay the log.

It holds only immutable facts of ``RunCreated`` (never a status), is written in the
same transaction as the event, and can be rebuilt from the log at any time, so it can
never disagree with the log. ``UNIQUE (pipeline, number)`` makes run numbers per
pipeline name unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from xxci.common.events import RecordedEvent, RunCreated
from xxci.orchestrator.store._sqlite import format_time, parse_time

__all__ = ["RUNS_SCHEMA", "RunRow", "insert_runs", "pipeline_name", "row_from_event"]

RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    stream      TEXT NOT NULL,
    pipeline    TEXT NOT NULL,
    number      INTEGER NOT NULL,
    repo        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    "commit"    TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (pipeline, number)
);
CREATE INDEX IF NOT EXISTS runs_by_repo ON runs (repo, pipeline, number);
"""

COLUMNS = 'run_id, stream, pipeline, number, repo, branch, "commit", created_seq, created_at'


@dataclass(frozen=True)
class RunRow:
    """A run's identity as recorded by its ``RunCreated`` event (no status: replay for that)."""

    run_id: str
    stream: str
    pipeline: str
    number: int
    repo: str
    branch: str
    commit: str
    created_seq: int
    created_at: datetime

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> RunRow:
        """Build from a row selected as ``COLUMNS`` (or a slice of one)."""
        run_id, stream, pipeline, number, repo, branch, commit, seq, at = row
        return cls(run_id, stream, pipeline, number, repo, branch, commit, seq, parse_time(at))


def pipeline_name(event: RunCreated) -> str:
    """The pipeline name inside the resolved spec of ``event``."""
    name = event.pipeline.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"RunCreated {event.run_id!r}: resolved pipeline has no name")
    return name


def row_from_event(recorded: RecordedEvent) -> RunRow:
    event = recorded.event
    if not isinstance(event, RunCreated):
        raise TypeError(f"not a RunCreated: {event!r}")
    return RunRow(
        run_id=event.run_id,
        stream=recorded.stream,
        pipeline=pipeline_name(event),
        number=event.number,
        repo=event.repo,
        branch=event.branch,
        commit=event.commit,
        created_seq=recorded.seq,
        created_at=recorded.at,
    )


def _params(row: RunRow) -> Sequence[object]:
    return (
        row.run_id,
        row.stream,
        row.pipeline,
        row.number,
        row.repo,
        row.branch,
        row.commit,
        row.created_seq,
        format_time(row.created_at),
    )


async def insert_runs(conn: aiosqlite.Connection, rows: Iterable[RunRow]) -> None:
    """Insert index rows inside the caller's transaction (IntegrityError on a taken number)."""
    for row in rows:
        await conn.execute_fetchall(
            f"INSERT INTO runs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _params(row)
        )
