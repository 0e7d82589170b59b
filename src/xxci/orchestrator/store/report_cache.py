"""The report cache: the report of each finished run, as the fold last produced it.

Derived data, never a source of truth. A row holds ``run_report(replay(stream))`` of a
run that had finished, with the stream version it was folded from::

    report_cache(run_id TEXT PRIMARY KEY, version INTEGER, last_seq INTEGER,
                 summary TEXT (JSON: the report, stages without their jobs),
                 report TEXT (JSON: the whole report))

A reader takes a row only while the run's stream is still at that version (checked in
the same query), so a row can go stale but never be used stale. ``xxci verify``
recomputes every row from the log, and dropping the table loses nothing: the query
functions refill it as they replay. It lives in the event log's SQLite file (so one
query can join it with the run index and the events) with ``synchronous=NORMAL``: a
row lost to a power cut is only recomputed.

Why it exists: folding a run costs about a millisecond, so listing 10,000 runs by
replay takes seconds, while reading their cached summaries takes tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import Database
from xxci.orchestrator.store.run_index import COLUMNS as RUN_COLUMNS
from xxci.orchestrator.store.run_index import N_COLUMNS, RunRow

__all__ = ["CACHE_SCHEMA", "CacheHit", "CachedReport", "ReportCache"]

CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS report_cache (
    run_id   TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    summary  TEXT NOT NULL,
    report   TEXT NOT NULL
)
"""

Detail = Literal["summary", "report", "status", "none"]
"""Which document a select returns ("status": the run's status alone; "none": only
whether a usable row exists)."""

_ROWS_PER_INSERT = 1000  # 5 parameters each, under SQLite's limit of 32766

_DETAIL = {
    "summary": "c.summary",
    "report": "c.report",
    "status": "json_extract(c.summary, '$.status')",
    "none": "''",
}
_IDS_PER_SELECT = 500

_RUN_COLUMNS = ", ".join(f"r.{c.strip()}" for c in RUN_COLUMNS.split(","))


@dataclass(frozen=True)
class CachedReport:
    """One row: the run's summary and report (JSON text) folded up to ``version``."""

    run_id: str
    version: int
    last_seq: int
    summary: str
    report: str


@dataclass(frozen=True)
class CacheHit:
    """A usable row's ``summary`` or ``report`` text, and the last seq it covers."""

    last_seq: int
    document: str


class ReportCache(AsyncClosing):
    """The cache table of one event log. Open it with ``await ReportCache.open(path)``
    on a file an :class:`EventStore` has opened (it joins the events and runs tables)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> ReportCache:
        db = await Database.open(path, synchronous="NORMAL")
        try:
            await db.complete(_create_schema(db))
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def select(
        self,
        *,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        branch: str | None = None,
        run_ids: Sequence[str] | None = None,
        up_to_seq: int | None = None,
        limit: int | None = None,
        detail: Detail = "summary",
    ) -> list[tuple[RunRow, CacheHit | None]]:
        """Runs matching every given filter (created at or before ``up_to_seq``; among
        ``run_ids``), oldest first (with ``limit``: the newest ``limit``), each with its
        cached ``detail`` when a row exists for the stream's current version."""
        if run_ids is not None and len(run_ids) > _IDS_PER_SELECT:
            parts: list[tuple[RunRow, CacheHit | None]] = []
            for start in range(0, len(run_ids), _IDS_PER_SELECT):
                parts += await self.select(
                    repo=repo,
                    pipeline=pipeline,
                    number=number,
                    branch=branch,
                    run_ids=run_ids[start : start + _IDS_PER_SELECT],
                    up_to_seq=up_to_seq,
                    detail=detail,
                )
            parts.sort(key=lambda pair: pair[0].created_seq)
            return parts[-limit:] if limit else parts
        clauses: list[str] = []
        params: list[object] = []
        filters = (("repo", repo), ("pipeline", pipeline), ("number", number), ("branch", branch))
        for column, value in filters:
            if value is not None:
                clauses.append(f"r.{column} = ?")
                params.append(value)
        if run_ids is not None:
            clauses.append(f"r.run_id IN ({', '.join('?' * len(run_ids))})")
            params += run_ids
        if up_to_seq is not None:
            clauses.append("r.created_seq <= ?")
            params.append(up_to_seq)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {_RUN_COLUMNS}, c.last_seq, {_DETAIL[detail]} FROM runs AS r"
            " LEFT JOIN report_cache AS c ON c.run_id = r.run_id"
            " AND c.version = (SELECT MAX(e.version) FROM events AS e WHERE e.stream = r.stream)"
            f" {where} ORDER BY r.created_seq DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._db.read(sql, params)
        found: list[tuple[RunRow, CacheHit | None]] = []
        for row in reversed(rows):
            last_seq, document = row[N_COLUMNS], row[N_COLUMNS + 1]
            hit = CacheHit(int(last_seq), str(document)) if last_seq is not None else None
            found.append((RunRow.from_db(row[:N_COLUMNS]), hit))
        return found

    async def save(self, entries: Sequence[CachedReport]) -> None:
        """Store (or replace) rows, all in one transaction."""
        if entries:
            await self._db.complete(self._save(entries))

    async def _save(self, entries: Sequence[CachedReport]) -> None:
        async with self._db.transaction() as conn:
            for start in range(0, len(entries), _ROWS_PER_INSERT):
                part = entries[start : start + _ROWS_PER_INSERT]
                params: list[object] = []
                for e in part:
                    params += (e.run_id, e.version, e.last_seq, e.summary, e.report)
                await conn.execute_fetchall(
                    "INSERT OR REPLACE INTO report_cache"
                    " (run_id, version, last_seq, summary, report)"
                    f" VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(part))}",
                    params,
                )

    async def entries(self) -> dict[str, CachedReport]:
        """Every row, stale ones included (for ``verify``)."""
        rows = await self._db.read(
            "SELECT run_id, version, last_seq, summary, report FROM report_cache"
        )
        return {
            str(r[0]): CachedReport(str(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]))
            for r in rows
        }


async def _create_schema(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute_fetchall(CACHE_SCHEMA)
