"""Worker identities on PostgreSQL: the same rows and contract as
:class:`~xxci.orchestrator.store.identity_store.WorkerIdentityStore`, shared by every
orchestrator on the database (a worker registered with one is known to all, and a
revocation holds for all at once)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from xxci.common.closing import AsyncClosing
from xxci.common.errors import ConflictError
from xxci.orchestrator.domain.identity import IdentityRecord
from xxci.orchestrator.store._sqlite import format_time, parse_time
from xxci.orchestrator.store.postgres._pg import PgDatabase, Row
from xxci.orchestrator.store.postgres.event_store import create_schema

__all__ = ["PgIdentityStore"]

_COLUMNS = "worker_id, name, secret_hash, registered_at, last_seen_at, revoked_at"


class PgIdentityStore(AsyncClosing):
    """Open with ``await PgIdentityStore.open(url)``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str) -> PgIdentityStore:
        db = await PgDatabase.open(url, max_size=2)
        try:
            await create_schema(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def add(self, record: IdentityRecord) -> None:
        try:
            await self._db.read(
                f"INSERT INTO worker_identities ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    record.worker_id,
                    record.name,
                    record.secret_hash,
                    format_time(record.registered_at),
                    format_time(record.last_seen_at) if record.last_seen_at else None,
                    format_time(record.revoked_at) if record.revoked_at else None,
                ),
            )
        except psycopg.errors.UniqueViolation as err:
            raise ConflictError(f"worker id {record.worker_id} is taken") from err

    async def get(self, worker_id: str) -> IdentityRecord | None:
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM worker_identities WHERE worker_id = %s", (worker_id,)
        )
        return _record(rows[0]) if rows else None

    async def all(self) -> list[IdentityRecord]:
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM worker_identities ORDER BY registered_at, worker_id"
        )
        return [_record(row) for row in rows]

    async def seen(self, worker_id: str, at: datetime, name: str | None = None) -> None:
        stamp = format_time(at)
        await self._db.read(
            "UPDATE worker_identities SET name = COALESCE(%s, name), last_seen_at = %s"
            " WHERE worker_id = %s AND (last_seen_at IS NULL OR last_seen_at < %s)",
            (name, stamp, worker_id, stamp),
        )

    async def revoke(self, worker_id: str, at: datetime) -> bool:
        rows = await self._db.read(
            "UPDATE worker_identities SET revoked_at = %s"
            " WHERE worker_id = %s AND revoked_at IS NULL RETURNING worker_id",
            (format_time(at), worker_id),
        )
        return bool(rows)


def _record(row: Row) -> IdentityRecord:
    worker_id, name, secret_hash, registered_at, last_seen_at, revoked_at = row
    return IdentityRecord(
        worker_id=str(worker_id),
        name=str(name),
        secret_hash=str(secret_hash),
        registered_at=parse_time(str(registered_at)),
        last_seen_at=parse_time(str(last_seen_at)) if last_seen_at else None,
        revoked_at=parse_time(str(revoked_at)) if revoked_at else None,
    )
