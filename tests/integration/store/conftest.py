"""The storage contract suite: every test here taking ``backend`` (or a store fixture
made from it) runs against each backend in ``BACKENDS``; a new backend joins by adding
itself there and must pass unchanged. Tests of one backend's own files (raw SQLite
edits, shared files) take ``db_path`` and open that backend directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xxci.orchestrator.store import (
    BlobStorage,
    BlobStore,
    EventStorage,
    EventStore,
    IdentityStorage,
    LogStorage,
    LogStore,
    ReportCache,
    ReportStorage,
    WorkerIdentityStore,
)
from xxci.orchestrator.store.postgres import (
    PgBlobStore,
    PgEventStore,
    PgIdentityStore,
    PgLogStore,
    PgReportCache,
)


@dataclass(frozen=True)
class Backend:
    """Opens the stores of one backend on one place (a file, a database): every open
    sees what the previous ones wrote, like another process would."""

    name: str
    root: Path
    url: str = ""
    """The database of the ``postgresql`` backend."""

    async def open_events(self) -> EventStorage:
        if self.url:
            return await PgEventStore.open(self.url)
        return await EventStore.open(self.root / "xxci.db")

    async def open_logs(self) -> LogStorage:
        if self.url:
            return await PgLogStore.open(self.url)
        return await LogStore.open(self.root / "xxci.db")

    async def open_reports(self) -> ReportStorage:
        if self.url:
            return await PgReportCache.open(self.url)
        return await ReportCache.open(self.root / "xxci.db")

    async def open_identities(self) -> IdentityStorage:
        if self.url:
            return await PgIdentityStore.open(self.url)
        return await WorkerIdentityStore.open(self.root / "xxci.db")

    async def open_blobs(self) -> BlobStorage:
        if self.url:
            return await PgBlobStore.open(self.url)
        return BlobStore(self.root / "blobs")


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return Backend("postgresql", tmp_path, url)
    return Backend(str(request.param), tmp_path)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The SQLite file of the ``sqlite`` backend (for SQLite-only tests)."""
    return tmp_path / "xxci.db"


@pytest.fixture
async def event_store(backend: Backend) -> AsyncIterator[EventStorage]:
    store = await backend.open_events()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def log_store(backend: Backend) -> AsyncIterator[LogStorage]:
    store = await backend.open_logs()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def report_cache(backend: Backend) -> AsyncIterator[ReportStorage]:
    cache = await backend.open_reports()
    try:
        yield cache
    finally:
        await cache.close()


@pytest.fixture
async def identity_store(backend: Backend) -> AsyncIterator[IdentityStorage]:
    store = await backend.open_identities()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def blob_store(backend: Backend) -> AsyncIterator[BlobStorage]:
    blobs = await backend.open_blobs()
    try:
        yield blobs
    finally:
        await blobs.close()


@pytest.fixture
def fs_blobs(tmp_path: Path) -> BlobStore:
    """The filesystem blob store itself (for tests of its files on disk)."""
    return BlobStore(tmp_path / "blobs")
