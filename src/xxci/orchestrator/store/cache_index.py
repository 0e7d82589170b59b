"""The index of job caches: one entry per (scope, key), naming an archive blob.

Schema (``caches.db``, a SQLite file of its own: the entries are not history, they
are replaced, touched and evicted)::

    cache_entries(scope TEXT, key TEXT, digest TEXT, size INTEGER,
                  saved_at TEXT, used_at TEXT, PRIMARY KEY (scope, key))

A save replaces the entry of its key (the newest write wins); a lookup touches the
entry it finds (``used_at``), which is what least-recently-used eviction orders by.
The archives themselves live in a blob store of their own (``cache-blobs/``):
:meth:`CacheIndex.unreferenced` says which digests no entry names any more, so the
caller can delete them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import Database, format_time, parse_time

__all__ = ["CacheEntry", "CacheIndex"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    scope    TEXT NOT NULL,
    key      TEXT NOT NULL,
    digest   TEXT NOT NULL,
    size     INTEGER NOT NULL,
    saved_at TEXT NOT NULL,
    used_at  TEXT NOT NULL,
    PRIMARY KEY (scope, key)
)
"""
_COLUMNS = "scope, key, digest, size, saved_at, used_at"


@dataclass(frozen=True)
class CacheEntry:
    scope: str
    key: str
    digest: str
    size: int
    saved_at: datetime
    used_at: datetime


def _entry(row: Sequence[object]) -> CacheEntry:
    return CacheEntry(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        int(str(row[3])),
        parse_time(str(row[4])),
        parse_time(str(row[5])),
    )


class CacheIndex(AsyncClosing):
    """The cache entries of one orchestrator; see the module docstring."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> CacheIndex:
        db = await Database.open(path, synchronous="NORMAL")
        async with db.transaction() as conn:
            await conn.execute_fetchall(SCHEMA)
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def lookup(self, scope: str, keys: Sequence[str], now: datetime) -> CacheEntry | None:
        """The entry of the first of ``keys`` in ``scope`` that has one, touched."""
        for key in keys:
            async with self._db.transaction() as conn:
                rows = await conn.execute_fetchall(
                    f"UPDATE cache_entries SET used_at = ? WHERE scope = ? AND key = ?"
                    f" RETURNING {_COLUMNS}",
                    (format_time(now), scope, key),
                )
            found = list(rows)
            if found:
                return _entry(found[0])
        return None

    async def save(self, scope: str, key: str, digest: str, size: int, now: datetime) -> CacheEntry:
        """Make ``digest`` the entry of ``key`` in ``scope`` (replacing any)."""
        at = format_time(now)
        async with self._db.transaction() as conn:
            await conn.execute_fetchall(
                f"INSERT OR REPLACE INTO cache_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (scope, key, digest, size, at, at),
            )
        return CacheEntry(scope, key, digest, size, now, now)

    async def entries(self, scope: str = "") -> list[CacheEntry]:
        """Entries of ``scope`` ("" for all), most recently used first."""
        sql = f"SELECT {_COLUMNS} FROM cache_entries"
        params: tuple[str, ...] = ()
        if scope:
            sql += " WHERE scope = ?"
            params = (scope,)
        rows = await self._db.read(sql + " ORDER BY used_at DESC, scope, key", params)
        return [_entry(r) for r in rows]

    async def remove(self, scope: str = "", key: str = "") -> list[CacheEntry]:
        """Remove the entries of ``scope`` ("" for every scope), only ``key`` if given;
        the removed."""
        clauses, params = [], []
        if scope:
            clauses.append("scope = ?")
            params.append(scope)
        if key:
            clauses.append("key = ?")
            params.append(key)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                f"DELETE FROM cache_entries{where} RETURNING {_COLUMNS}", params
            )
        return [_entry(r) for r in rows]

    async def evict(self, max_bytes: int) -> list[CacheEntry]:
        """Remove the least recently used entries until the archives they name take
        at most ``max_bytes`` (an archive named twice counts once); the removed."""
        removed: list[CacheEntry] = []
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(
                f"SELECT {_COLUMNS} FROM cache_entries ORDER BY used_at, scope, key"
            )
            entries = [_entry(r) for r in rows]
            sizes = {e.digest: e.size for e in entries}
            total = sum(sizes.values())
            refs: dict[str, int] = {}
            for e in entries:
                refs[e.digest] = refs.get(e.digest, 0) + 1
            for e in entries:
                if total <= max_bytes:
                    break
                await conn.execute_fetchall(
                    "DELETE FROM cache_entries WHERE scope = ? AND key = ?", (e.scope, e.key)
                )
                removed.append(e)
                refs[e.digest] -= 1
                if refs[e.digest] == 0:
                    total -= e.size
        return removed

    async def unreferenced(self, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` that no entry names."""
        result = []
        for digest in dict.fromkeys(digests):
            rows = await self._db.read(
                "SELECT 1 FROM cache_entries WHERE digest = ? LIMIT 1", (digest,)
            )
            if not rows:
                result.append(digest)
        return result
