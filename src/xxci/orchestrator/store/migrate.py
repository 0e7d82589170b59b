"""Copying an SQLite data directory into an empty PostgreSQL store (``xxci store migrate``).

Everything moves: the events with their hash chain (rows as stored, so both sides
check the same and end at the same head), the chain's metadata, the run index, job
logs, the report cache, the worker identities (registered workers keep their
credentials) and every blob. The data directory is locked meanwhile (no
orchestrator may write it), blobs are copied first (they must exist before any event
names them), and the rest is one transaction on the target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xxci.common.errors import NotFoundError
from xxci.orchestrator.store._sqlite import Database
from xxci.orchestrator.store.blob_store import BlobStore, parse_digest
from xxci.orchestrator.store.dir_lock import DataDirLock
from xxci.orchestrator.store.event_store import EventStore
from xxci.orchestrator.store.identity_store import WorkerIdentityStore
from xxci.orchestrator.store.log_store import LogStore
from xxci.orchestrator.store.membership import SqliteMembership
from xxci.orchestrator.store.report_cache import ReportCache

__all__ = ["Copied", "log_file", "migrate_to_postgres"]

_PAGE = 5000

_TABLES = {
    "events": ("seq", "seq, stream, version, type, data, at, hash"),
    "log_meta": ("name", "name, value"),
    "runs": (
        "created_seq",
        'run_id, stream, pipeline, number, repo, branch, "commit", created_seq, created_at,'
        " finished_seq",
    ),
    "logs": ("run_id, job, attempt, seq", "run_id, job, attempt, seq, stream, data, at"),
    "report_cache": ("run_id", "run_id, version, last_seq, summary, report"),
    "worker_identities": (
        "worker_id",
        "worker_id, name, secret_hash, registered_at, last_seen_at, revoked_at",
    ),
}


@dataclass(frozen=True)
class Copied:
    """How many of each were copied."""

    events: int
    runs: int
    log_chunks: int
    reports: int
    blobs: int
    workers: int = 0


def log_file(data_dir: Path) -> Path:
    """The log of ``data_dir``: a server's ``events.db``, or the ``local.db`` of an
    ``$XXCI_HOME``. NotFoundError when it has neither."""
    for name in ("events.db", "local.db"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise NotFoundError(f"no event log in {data_dir} (no events.db, no local.db)")


async def migrate_to_postgres(data_dir: Path, url: str, *, say: Callable[[str], None]) -> Copied:
    """Copy ``data_dir`` into the empty store at ``url`` (see the module docstring).
    NotFoundError without a log there; DataDirInUse while an orchestrator runs on it."""
    from xxci.orchestrator.store.postgres import PgBlobStore
    from xxci.orchestrator.store.postgres.importer import import_rows

    path = log_file(data_dir)
    lock = DataDirLock.acquire(data_dir)
    try:
        # Opening each store brings an older file up to date (chain, index, tables).
        for store in (
            await EventStore.open(path),
            await LogStore.open(path),
            await ReportCache.open(path),
            await SqliteMembership.open(path),
            await WorkerIdentityStore.open(path),
        ):
            await store.close()
        blobs = 0
        local = BlobStore(data_dir / "blobs")
        target = await PgBlobStore.open(url)
        try:
            for blob in _blob_files(local.root):
                ref = await target.put_file(blob)
                blobs += 1
                if blobs % 100 == 0:
                    say(f"copied {blobs} blobs")
                if ref.digest != f"sha256:{blob.parent.name}{blob.name}":
                    say(f"warning: {blob} holds {ref.digest}: copied under that name")
        finally:
            await target.close()
        db = await Database.open(path, synchronous="NORMAL")
        try:
            counts = await import_rows(
                url,
                {table: (columns, _pages(db, table)) for table, (_, columns) in _TABLES.items()},
            )
        finally:
            await db.close()
    finally:
        lock.release()
    return Copied(
        events=counts.get("events", 0),
        runs=counts.get("runs", 0),
        log_chunks=counts.get("logs", 0),
        reports=counts.get("report_cache", 0),
        blobs=blobs,
        workers=counts.get("worker_identities", 0),
    )


def _blob_files(root: Path) -> list[Path]:
    found = []
    for path in sorted((root / "sha256").glob("*/*")):
        try:
            parse_digest(f"sha256:{path.parent.name}{path.name}")
        except ValueError:
            continue  # not a blob (a stray file)
        found.append(path)
    return found


async def _pages(db: Database, table: str) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    order, columns = _TABLES[table]
    offset = 0
    while True:
        rows = await db.read(
            f"SELECT {columns} FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (_PAGE, offset)
        )
        if not rows:
            return
        yield [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
        offset += len(rows)
