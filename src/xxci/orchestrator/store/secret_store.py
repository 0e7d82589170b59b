"""The secret store: values given to the jobs that ask for them, kept apart.

Schema (``secrets.db``, a SQLite file of its own, mode 0600, its rollback journal
too; never the event log's file)::

    secrets(name TEXT, pipeline TEXT ("" for every pipeline), value BLOB,
            updated_at TEXT, PRIMARY KEY (name, pipeline))

Only :meth:`SecretStore.values` reads values, for the attempts that are given them;
everything else sees :class:`SecretInfo` (name, scope, size, time). A pipeline's own
secret wins over one of the same name for every pipeline.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xxci.common.closing import AsyncClosing
from xxci.orchestrator.store._sqlite import format_time, parse_time

__all__ = ["SecretInfo", "SecretStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name       TEXT NOT NULL,
    pipeline   TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (name, pipeline)
)
"""
FILE_MODE = 0o600


@dataclass(frozen=True)
class SecretInfo:
    """A secret, without its value."""

    name: str
    pipeline: str
    size: int
    updated_at: datetime


class SecretStore(AsyncClosing):
    """Secrets in ``path``; see the module docstring. Calls run in a thread."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> SecretStore:
        return await asyncio.to_thread(cls._open, path)

    @classmethod
    def _open(cls, path: Path) -> SecretStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it: SQLite gives its journal the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
        os.chmod(path, FILE_MODE)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(SCHEMA)
        return cls(path, conn)

    async def close(self) -> None:
        await asyncio.to_thread(self._conn.close)

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    async def put(self, name: str, value: bytes, pipeline: str, now: datetime) -> SecretInfo:
        await asyncio.to_thread(
            self._run,
            "INSERT OR REPLACE INTO secrets (name, pipeline, value, updated_at)"
            " VALUES (?, ?, ?, ?)",
            (name, pipeline, value, format_time(now)),
        )
        return SecretInfo(name, pipeline, len(value), now)

    async def infos(self) -> list[SecretInfo]:
        rows = await asyncio.to_thread(
            self._run,
            "SELECT name, pipeline, length(value), updated_at FROM secrets ORDER BY name, pipeline",
        )
        return [
            SecretInfo(str(r[0]), str(r[1]), int(str(r[2])), parse_time(str(r[3]))) for r in rows
        ]

    async def remove(self, name: str, pipeline: str) -> bool:
        rows = await asyncio.to_thread(
            self._run,
            "DELETE FROM secrets WHERE name = ? AND pipeline = ? RETURNING name",
            (name, pipeline),
        )
        return bool(rows)

    async def values(self, pipeline: str, names: Sequence[str]) -> dict[str, bytes]:
        """The values of ``names`` for a job of ``pipeline`` (absent names are left out)."""
        if not names:
            return {}
        marks = ", ".join("?" * len(names))
        rows = await asyncio.to_thread(
            self._run,
            f"SELECT name, pipeline, value FROM secrets WHERE name IN ({marks})"
            " AND pipeline IN ('', ?) ORDER BY pipeline",  # '' first: the pipeline's wins
            (*names, pipeline),
        )
        return {str(r[0]): r[2] for r in rows if isinstance(r[2], bytes)}

    async def known(self, pipeline: str, names: Sequence[str]) -> set[str]:
        """Those of ``names`` a job of ``pipeline`` would be given."""
        if not names:
            return set()
        marks = ", ".join("?" * len(names))
        rows = await asyncio.to_thread(
            self._run,
            f"SELECT name FROM secrets WHERE name IN ({marks}) AND pipeline IN ('', ?)",
            (*names, pipeline),
        )
        return {str(r[0]) for r in rows}
