"""Membership on PostgreSQL: the same contract as
:class:`~xxci.orchestrator.store.membership.SqliteMembership`, shared by every
orchestrator on the database."""

from __future__ import annotations

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store.membership import Member
from xxci.orchestrator.store.postgres._pg import PgDatabase
from xxci.orchestrator.store.postgres.event_store import create_schema

__all__ = ["PgMembership"]


class PgMembership(AsyncClosing):
    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str) -> PgMembership:
        db = await PgDatabase.open(url, max_size=2)
        try:
            await create_schema(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def beat(self, orchestrator: str, address: str, at: float) -> None:
        await self._db.read(
            "INSERT INTO orchestrators (id, address, started_at, heartbeat_at, stopped)"
            " VALUES (%s, %s, %s, %s, FALSE) ON CONFLICT (id) DO UPDATE SET"
            " address = excluded.address, heartbeat_at = excluded.heartbeat_at",
            (orchestrator, address, at, at),
        )

    async def leave(self, orchestrator: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                b"UPDATE orchestrators SET stopped = TRUE WHERE id = %s", (orchestrator,)
            )
            await conn.execute(b"DELETE FROM worker_homes WHERE orchestrator = %s", (orchestrator,))

    async def members(self, alive_since: float) -> list[Member]:
        rows = await self._db.read(
            "SELECT id, address, started_at, heartbeat_at FROM orchestrators"
            " WHERE NOT stopped AND heartbeat_at >= %s ORDER BY id",
            (alive_since,),
        )
        return [Member(str(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]

    async def set_home(self, worker_id: str, orchestrator: str, at: float) -> None:
        await self._db.read(
            "INSERT INTO worker_homes (worker_id, orchestrator, since) VALUES (%s, %s, %s)"
            " ON CONFLICT (worker_id) DO UPDATE SET orchestrator = excluded.orchestrator,"
            " since = excluded.since",
            (worker_id, orchestrator, at),
        )

    async def clear_home(self, worker_id: str, orchestrator: str) -> None:
        await self._db.read(
            "DELETE FROM worker_homes WHERE worker_id = %s AND orchestrator = %s",
            (worker_id, orchestrator),
        )

    async def homes(self) -> dict[str, str]:
        rows = await self._db.read("SELECT worker_id, orchestrator FROM worker_homes")
        return {str(r[0]): str(r[1]) for r in rows}
