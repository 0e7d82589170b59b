"""Worker identities: who registered, the hash of each one's secret, and revocations.

Schema (in the event log's SQLite file, through connections of its own)::

    worker_identities(worker_id TEXT PRIMARY KEY, name TEXT, secret_hash TEXT
                      ("sha256:<hex>"), registered_at TEXT, last_seen_at TEXT (NULL:
                      never connected), revoked_at TEXT (NULL: valid))

This table is the source of truth for credentials: the orchestrator asks it (not a
copy in memory) on every connection, so a revocation holds at once, for every process
on the file. The events ``WorkerRegistered`` and ``WorkerRevoked`` on the worker's
stream are the audit trail of the same facts; secrets, even hashed, never go in the
log (``xxci events`` shows it to every token holder). A revoked row is kept: its id is
never given again and ``xxci worker ls`` still shows it. ``synchronous=FULL``: a
credential handed out must survive a power cut.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from xxci.common.closing import AsyncClosing
from xxci.common.errors import ConflictError
from xxci.orchestrator.domain.identity import IdentityRecord
from xxci.orchestrator.store._sqlite import Database, format_time, parse_time

__all__ = ["IDENTITY_SCHEMA", "IdentityRecord", "WorkerIdentityStore"]

IDENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS worker_identities (
    worker_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    last_seen_at  TEXT,
    revoked_at    TEXT
)
"""

_COLUMNS = "worker_id, name, secret_hash, registered_at, last_seen_at, revoked_at"


class WorkerIdentityStore(AsyncClosing):
    """The identities table of one SQLite file; open with ``await ....open(path)``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> WorkerIdentityStore:
        db = await Database.open(path, synchronous="FULL")
        try:
            await db.write(lambda conn: conn.execute(IDENTITY_SCHEMA))
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def add(self, record: IdentityRecord) -> None:
        """Store a new identity; ConflictError if its id is taken (nothing written)."""

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO worker_identities ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.worker_id,
                    record.name,
                    record.secret_hash,
                    format_time(record.registered_at),
                    _time_or_none(record.last_seen_at),
                    _time_or_none(record.revoked_at),
                ),
            )

        try:
            await self._db.write(insert)
        except sqlite3.IntegrityError as err:
            raise ConflictError(f"worker id {record.worker_id} is taken") from err

    async def get(self, worker_id: str) -> IdentityRecord | None:
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM worker_identities WHERE worker_id = ?", (worker_id,)
        )
        return _record(rows[0]) if rows else None

    async def all(self) -> list[IdentityRecord]:
        """Every identity, revoked ones too, oldest registration first."""
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM worker_identities ORDER BY registered_at, worker_id"
        )
        return [_record(row) for row in rows]

    async def seen(self, worker_id: str, at: datetime, name: str | None = None) -> None:
        """The worker was heard from at ``at`` (under ``name``, if given); a time
        earlier than the one stored is ignored."""
        stamp = format_time(at)

        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE worker_identities SET name = COALESCE(?, name), last_seen_at = ?"
                " WHERE worker_id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)",
                (name, stamp, worker_id, stamp),
            )

        await self._db.write(update)

    async def revoke(self, worker_id: str, at: datetime) -> bool:
        """Revoke the identity at ``at``; False if there is no such worker or it was
        revoked already (the first revocation's time stays)."""

        def update(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE worker_identities SET revoked_at = ?"
                " WHERE worker_id = ? AND revoked_at IS NULL",
                (format_time(at), worker_id),
            )
            return cursor.rowcount == 1

        return await self._db.write(update)


def _time_or_none(at: datetime | None) -> str | None:
    return format_time(at) if at is not None else None


def _record(row: sqlite3.Row) -> IdentityRecord:
    worker_id, name, secret_hash, registered_at, last_seen_at, revoked_at = row
    return IdentityRecord(
        worker_id=str(worker_id),
        name=str(name),
        secret_hash=str(secret_hash),
        registered_at=parse_time(str(registered_at)),
        last_seen_at=parse_time(str(last_seen_at)) if last_seen_at else None,
        revoked_at=parse_time(str(revoked_at)) if revoked_at else None,
    )
