"""Choosing a backend: the stores of one orchestrator, opened together.

``--store`` names it: ``postgresql://...`` (or ``postgres://``) is a database that
several orchestrators may share; nothing means SQLite in the data directory (one
``events.db`` file and a ``blobs/`` folder), served by one orchestrator at a time.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from xxci.common.errors import UsageError
from xxci.orchestrator.store.blob_store import BlobStore
from xxci.orchestrator.store.event_store import EventStore
from xxci.orchestrator.store.identity_store import WorkerIdentityStore
from xxci.orchestrator.store.log_store import LogStore
from xxci.orchestrator.store.membership import SqliteMembership
from xxci.orchestrator.store.ports import (
    BlobStorage,
    EventStorage,
    IdentityStorage,
    LogStorage,
    Membership,
    ReportStorage,
)
from xxci.orchestrator.store.report_cache import ReportCache

__all__ = ["Storage", "check_store_url", "is_store_url", "open_storage"]

_SCHEMES = ("postgresql://", "postgres://")


def is_store_url(store: str | None) -> bool:
    """Whether ``store`` names a shared database (rather than nothing: SQLite)."""
    return bool(store) and str(store).startswith(_SCHEMES)


def check_store_url(store: str) -> str:
    """``store`` if it is a URL this xxci can open; UsageError otherwise."""
    if not is_store_url(store):
        raise UsageError(
            f"--store {store!r}: expected postgresql://USER@HOST:PORT/DATABASE"
            " (leave it out for SQLite in --data-dir)"
        )
    return store


@dataclass
class Storage:
    """Every store an orchestrator uses. ``shared``: other orchestrators may serve
    the same one at the same time (they see each other's changes promptly)."""

    events: EventStorage
    logs: LogStorage
    reports: ReportStorage
    blobs: BlobStorage
    members: Membership
    identities: IdentityStorage
    shared: bool
    where: str

    async def close(self) -> None:
        """Close every store (each even if another fails)."""
        stores = (self.identities, self.members, self.reports, self.logs, self.blobs, self.events)
        for store in stores:
            with contextlib.suppress(Exception):
                await store.close()


async def open_storage(store: str | None, data_dir: Path, db_name: str = "events.db") -> Storage:
    """Open the stores of ``store`` (a database URL) or, without one, SQLite in
    ``data_dir``. ConnectionError when the database cannot be reached."""
    opened: list[object] = []
    try:
        if is_store_url(store):
            assert store is not None
            from xxci.orchestrator.store.postgres import (  # only when asked for
                PgBlobStore,
                PgEventStore,
                PgIdentityStore,
                PgLogStore,
                PgMembership,
                PgReportCache,
            )
            from xxci.orchestrator.store.postgres._pg import redact

            events: EventStorage = await PgEventStore.open(store)
            opened.append(events)
            logs: LogStorage = await PgLogStore.open(store)
            opened.append(logs)
            reports: ReportStorage = await PgReportCache.open(store)
            opened.append(reports)
            blobs: BlobStorage = await PgBlobStore.open(store)
            opened.append(blobs)
            members: Membership = await PgMembership.open(store)
            opened.append(members)
            identities: IdentityStorage = await PgIdentityStore.open(store)
            return Storage(events, logs, reports, blobs, members, identities, True, redact(store))
        path = data_dir / db_name
        events = await EventStore.open(path)
        opened.append(events)
        logs = await LogStore.open(path)
        opened.append(logs)
        reports = await ReportCache.open(path)
        opened.append(reports)
        members = await SqliteMembership.open(path)
        opened.append(members)
        identities = await WorkerIdentityStore.open(path)
        opened.append(identities)
        blobs = BlobStore(data_dir / "blobs")
        return Storage(events, logs, reports, blobs, members, identities, False, str(data_dir))
    except BaseException:
        for done in reversed(opened):
            with contextlib.suppress(Exception):
                await done.close()  # type: ignore[attr-defined]
        raise
