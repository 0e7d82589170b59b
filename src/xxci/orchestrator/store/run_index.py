"""The run index: one row per ``RunCreated``, for queries that must not replay the log.

It holds the immutable facts of ``RunCreated`` and one more: ``finished_seq``, the seq
of the run's ``RunFinished`` (NULL while the run is live; a ``RunReopened``, appended
only when the fold takes it, makes it live again until its next ``RunFinished``), so
start-up reads the live
runs through a partial index instead of replaying every run ever made. Both are
written in the transaction of the event they come from, can be rebuilt from the log at
any time, and ``xxci verify`` checks them against it. ``UNIQUE (pipeline, number)``
makes run numbers per pipeline name unique.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xxci.common.errors import NotFoundError
from xxci.common.events import RecordedEvent, RunCreated, RunFinished, RunReopened
from xxci.common.status import RunStatus
from xxci.orchestrator.store._event_rows import EVENT_COLUMNS, decode_row
from xxci.orchestrator.store._sqlite import Database, format_time, parse_time

__all__ = [
    "COLUMNS",
    "LIVE_SCHEMA",
    "N_COLUMNS",
    "RUNS_SCHEMA",
    "RunRow",
    "SqliteRunIndex",
    "finished_seq_of",
    "insert_runs",
    "migrate_runs",
    "pipeline_name",
    "rebuild_runs",
    "record_finished",
    "reopens_run",
    "row_from_event",
    "row_params",
]

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
    finished_seq INTEGER,
    UNIQUE (pipeline, number)
);
CREATE INDEX IF NOT EXISTS runs_by_repo ON runs (repo, pipeline, number);
"""

LIVE_SCHEMA = """
CREATE INDEX IF NOT EXISTS runs_live ON runs (created_seq) WHERE finished_seq IS NULL;
"""
"""Created after ``RUNS_SCHEMA`` (and after a migration added ``finished_seq``)."""

COLUMNS = (
    'run_id, stream, pipeline, number, repo, branch, "commit", created_seq, created_at,'
    " finished_seq"
)
N_COLUMNS = 10

_FINISHED = tuple(s.value for s in RunStatus if s.finished)


@dataclass(frozen=True)
class RunRow:
    """A run's identity as recorded by its ``RunCreated`` event, and the seq of its
    ``RunFinished`` (None while it runs). No status: replay for that."""

    run_id: str
    stream: str
    pipeline: str
    number: int
    repo: str
    branch: str
    commit: str
    created_seq: int
    created_at: datetime
    finished_seq: int | None = None

    @classmethod
    def from_db(cls, row: Sequence[Any]) -> RunRow:
        """Build from a row selected as ``COLUMNS`` (or a slice of one)."""
        run_id, stream, pipeline, number, repo, branch, commit, seq, at, finished = row
        return cls(
            run_id, stream, pipeline, number, repo, branch, commit, seq, parse_time(at), finished
        )


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


def row_params(row: RunRow) -> Sequence[object]:
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
        row.finished_seq,
    )


def finishes_run(recorded: RecordedEvent) -> bool:
    """Whether ``recorded`` is a ``RunFinished`` the fold takes (a finished status)."""
    event = recorded.event
    return isinstance(event, RunFinished) and event.status in _FINISHED


def reopens_run(recorded: RecordedEvent) -> bool:
    return isinstance(recorded.event, RunReopened)


def finished_seq_of(records: Iterable[RecordedEvent]) -> int | None:
    """The seq at which a run stream's run finished (the ``RunFinished`` the fold
    takes, the first after the last ``RunReopened``); None if it has not."""
    finished = None
    for rec in records:
        if reopens_run(rec):
            finished = None
        elif finished is None and finishes_run(rec):
            finished = rec.seq
    return finished


def insert_runs(conn: sqlite3.Connection, rows: Iterable[RunRow]) -> None:
    """Insert index rows inside the caller's transaction (IntegrityError on a taken number)."""
    conn.executemany(
        f"INSERT INTO runs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row_params(row) for row in rows],
    )


def record_finished(conn: sqlite3.Connection, recorded: Sequence[RecordedEvent]) -> None:
    """Mark the runs that ``recorded`` finishes (or opens again), inside the caller's
    transaction."""
    for rec in recorded:
        if reopens_run(rec):
            conn.execute("UPDATE runs SET finished_seq = NULL WHERE stream = ?", (rec.stream,))
        elif finishes_run(rec):
            conn.execute(
                "UPDATE runs SET finished_seq = ? WHERE stream = ? AND finished_seq IS NULL",
                (rec.seq, rec.stream),
            )


def migrate_runs(conn: sqlite3.Connection) -> None:
    """Give a run index from before ``finished_seq`` the column, filled from the log."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    if "finished_seq" not in columns:
        conn.execute("ALTER TABLE runs ADD COLUMN finished_seq INTEGER")
        _fill_finished(conn)
    conn.execute(LIVE_SCHEMA)


def _fill_finished(conn: sqlite3.Connection) -> None:
    marks = ", ".join("?" * len(_FINISHED))
    conn.execute(
        "UPDATE runs SET finished_seq = (SELECT MIN(e.seq) FROM events AS e"
        " WHERE e.stream = runs.stream AND e.type = ?"
        f" AND json_extract(e.data, '$.status') IN ({marks})"
        " AND e.seq > (SELECT COALESCE(MAX(r.seq), 0) FROM events AS r"
        " WHERE r.stream = runs.stream AND r.type = ?))",
        (RunFinished.type, *_FINISHED, RunReopened.type),
    )


def rebuild_runs(conn: sqlite3.Connection) -> int:
    """Recompute every index row from the ``RunCreated`` and ``RunFinished`` events, in
    the caller's transaction; returns the row count."""
    conn.execute("DELETE FROM runs")
    rows = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE type = ? ORDER BY seq", (RunCreated.type,)
    ).fetchall()
    index = [row_from_event(decode_row(row)) for row in rows]
    insert_runs(conn, index)
    _fill_finished(conn)
    return len(index)


class SqliteRunIndex:
    """The run index of one SQLite event log (queries; rows are written by the log)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def next_run_number(self, pipeline: str) -> int:
        """The number the next run of ``pipeline`` would get (informational: use
        ``append_run_created`` to actually take it)."""
        rows = await self._db.read(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE pipeline = ?", (pipeline,)
        )
        return int(rows[0][0])

    async def find_runs(
        self,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        """Runs matching every given filter, oldest first; with ``limit``, the newest
        ``limit`` of them (still oldest first)."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("repo", repo), ("pipeline", pipeline), ("number", number)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {COLUMNS} FROM runs {where} ORDER BY created_seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._db.read(sql, params)
        return [RunRow.from_db(row) for row in reversed(rows)]

    async def pipelines(self, repo: str | None = None) -> list[str]:
        """Names of the pipelines that have runs (of ``repo``), sorted."""
        sql, params = "SELECT DISTINCT pipeline FROM runs", []
        if repo is not None:
            sql, params = sql + " WHERE repo = ?", [repo]
        return [str(row[0]) for row in await self._db.read(sql + " ORDER BY pipeline", params)]

    async def live_runs(self) -> list[RunRow]:
        """The runs that have not finished, oldest first (reads only those)."""
        rows = await self._db.read(
            f"SELECT {COLUMNS} FROM runs WHERE finished_seq IS NULL ORDER BY created_seq"
        )
        return [RunRow.from_db(row) for row in rows]

    async def get_run(self, run_id: str) -> RunRow:
        """The index row of ``run_id``; NotFoundError if there is no such run."""
        rows = await self._db.read(f"SELECT {COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run {run_id!r}")
        return RunRow.from_db(rows[0])

    async def rebuild_run_index(self) -> int:
        """Recompute the run index from the ``RunCreated`` events; returns its row count."""
        return await self._db.write(rebuild_runs)
