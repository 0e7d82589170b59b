"""The report cache on PostgreSQL: the same rows and rules as
:mod:`xxci.orchestrator.store.report_cache`, in the event log's database."""

from __future__ import annotations

from collections.abc import Sequence

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store.postgres._pg import PgDatabase
from xxci.orchestrator.store.postgres.event_store import create_schema
from xxci.orchestrator.store.report_cache import CachedReport, CacheHit, Detail
from xxci.orchestrator.store.run_index import COLUMNS as RUN_COLUMNS
from xxci.orchestrator.store.run_index import N_COLUMNS, RunRow

__all__ = ["PgReportCache"]

_DETAIL = {
    "summary": "c.summary",
    "report": "c.report",
    "status": "(c.summary::jsonb ->> 'status')",
    "none": "''",
}
_RUN_COLUMNS = ", ".join(f"r.{c.strip()}" for c in RUN_COLUMNS.split(","))


class PgReportCache(AsyncClosing):
    """Open with ``await PgReportCache.open(url)``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str) -> PgReportCache:
        db = await PgDatabase.open(url, max_size=4)
        try:
            await create_schema(db)
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
        """See :meth:`xxci.orchestrator.store.report_cache.ReportCache.select`."""
        clauses: list[str] = []
        params: list[object] = []
        filters = (("repo", repo), ("pipeline", pipeline), ("number", number), ("branch", branch))
        for column, value in filters:
            if value is not None:
                clauses.append(f"r.{column} = %s")
                params.append(value)
        if run_ids is not None:
            clauses.append("r.run_id = ANY(%s)")
            params.append(list(run_ids))
        if up_to_seq is not None:
            clauses.append("r.created_seq <= %s")
            params.append(up_to_seq)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {_RUN_COLUMNS}, c.last_seq, {_DETAIL[detail]} FROM runs AS r"
            " LEFT JOIN report_cache AS c ON c.run_id = r.run_id"
            " AND c.version = (SELECT MAX(e.version) FROM events AS e WHERE e.stream = r.stream)"
            f" {where} ORDER BY r.created_seq DESC"
        )
        if limit is not None:
            sql += " LIMIT %s"
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
        latest = {e.run_id: e for e in entries}  # one row per run in one statement
        async with self._db.transaction() as conn:
            await conn.execute(
                b"INSERT INTO report_cache (run_id, version, last_seq, summary, report)"
                b" SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::text[],"
                b" %s::text[])"
                b" ON CONFLICT (run_id) DO UPDATE SET version = excluded.version,"
                b" last_seq = excluded.last_seq, summary = excluded.summary,"
                b" report = excluded.report",
                (
                    [e.run_id for e in latest.values()],
                    [e.version for e in latest.values()],
                    [e.last_seq for e in latest.values()],
                    [e.summary for e in latest.values()],
                    [e.report for e in latest.values()],
                ),
            )

    async def entries(self) -> dict[str, CachedReport]:
        rows = await self._db.read(
            "SELECT run_id, version, last_seq, summary, report FROM report_cache"
        )
        return {
            str(r[0]): CachedReport(str(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]))
            for r in rows
        }
