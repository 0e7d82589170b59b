"""Which orchestrators serve the store, and which one each worker is connected to.

Several orchestrators may serve one shared store (PostgreSQL). Each writes a heartbeat
row every few seconds; one whose heartbeat is older than a few intervals (or that said
it stopped) is gone. Each records the workers connected to it (their *home*), so
the others know whose leases are whose: an orchestrator expires the leases of its own
workers, and the survivors take over those of a home that is gone. With SQLite there
is one orchestrator and these rows only describe it.

Times are wall-clock seconds (``Clock.now().timestamp()``) given by the caller, so
orchestrators on several hosts need synchronised clocks (NTP) for liveness, and tests
can run it on a fake clock.

Schema (SQLite; PostgreSQL has the same in ``postgres/schema.py``)::

    orchestrators(id TEXT PRIMARY KEY, address TEXT, started_at REAL,
                  heartbeat_at REAL, stopped INTEGER)
    worker_homes(worker_id TEXT PRIMARY KEY, orchestrator TEXT, since REAL)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import Database

__all__ = ["MEMBERSHIP_SCHEMA", "Member", "SqliteMembership"]

MEMBERSHIP_SCHEMA = """
CREATE TABLE IF NOT EXISTS orchestrators (
    id           TEXT PRIMARY KEY,
    address      TEXT NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stopped      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS worker_homes (
    worker_id    TEXT PRIMARY KEY,
    orchestrator TEXT NOT NULL,
    since        REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Member:
    """An orchestrator serving the store, as of its last heartbeat."""

    id: str
    address: str
    started_at: float
    heartbeat_at: float


class SqliteMembership(AsyncClosing):
    """The membership rows in an event log's SQLite file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteMembership:
        db = await Database.open(path, synchronous="NORMAL")
        try:
            async with db.transaction() as conn:
                for statement in MEMBERSHIP_SCHEMA.split(";"):
                    await conn.execute_fetchall(statement)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def beat(self, orchestrator: str, address: str, at: float) -> None:
        """Say ``orchestrator`` (at ``address``) is alive at ``at``."""
        async with self._db.transaction() as conn:
            await conn.execute_fetchall(
                "INSERT INTO orchestrators (id, address, started_at, heartbeat_at, stopped)"
                " VALUES (?, ?, ?, ?, 0) ON CONFLICT (id) DO UPDATE SET"
                " address = excluded.address, heartbeat_at = excluded.heartbeat_at",
                (orchestrator, address, at, at),
            )

    async def leave(self, orchestrator: str) -> None:
        """``orchestrator`` stops: gone at once, its workers without a home."""
        async with self._db.transaction() as conn:
            await conn.execute_fetchall(
                "UPDATE orchestrators SET stopped = 1 WHERE id = ?", (orchestrator,)
            )
            await conn.execute_fetchall(
                "DELETE FROM worker_homes WHERE orchestrator = ?", (orchestrator,)
            )

    async def members(self, alive_since: float) -> list[Member]:
        """The orchestrators with a heartbeat at or after ``alive_since`` that have not
        stopped, by id."""
        rows = await self._db.read(
            "SELECT id, address, started_at, heartbeat_at FROM orchestrators"
            " WHERE stopped = 0 AND heartbeat_at >= ? ORDER BY id",
            (alive_since,),
        )
        return [Member(str(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]

    async def set_home(self, worker_id: str, orchestrator: str, at: float) -> None:
        """``worker_id`` is connected to ``orchestrator`` now (the newest connection wins)."""
        async with self._db.transaction() as conn:
            await conn.execute_fetchall(
                "INSERT INTO worker_homes (worker_id, orchestrator, since) VALUES (?, ?, ?)"
                " ON CONFLICT (worker_id) DO UPDATE SET orchestrator = excluded.orchestrator,"
                " since = excluded.since",
                (worker_id, orchestrator, at),
            )

    async def clear_home(self, worker_id: str, orchestrator: str) -> None:
        """``worker_id`` left ``orchestrator`` (kept if it is at home elsewhere now)."""
        async with self._db.transaction() as conn:
            await conn.execute_fetchall(
                "DELETE FROM worker_homes WHERE worker_id = ? AND orchestrator = ?",
                (worker_id, orchestrator),
            )

    async def homes(self) -> dict[str, str]:
        """Every connected worker and the orchestrator it is connected to."""
        rows = await self._db.read("SELECT worker_id, orchestrator FROM worker_homes")
        return {str(r[0]): str(r[1]) for r in rows}
