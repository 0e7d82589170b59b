from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xxci.orchestrator.store import BlobStore, EventStore, LogStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "xxci.db"


@pytest.fixture
async def event_store(db_path: Path) -> AsyncIterator[EventStore]:
    store = await EventStore.open(db_path)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def log_store(db_path: Path) -> AsyncIterator[LogStore]:
    store = await LogStore.open(db_path)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def blob_store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")
