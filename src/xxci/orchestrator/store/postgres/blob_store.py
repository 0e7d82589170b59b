"""Content-addressed blobs in PostgreSQL, so that every orchestrator reaches them.

``blobs(digest, size, chunks)`` names a complete blob; its bytes are ``blob_chunks``
rows of at most ``CHUNK_SIZE`` bytes, numbered from 0. An upload is spooled locally
(memory, then a temp file) while it is hashed; committing writes its chunks and then
its ``blobs`` row in one transaction, so a blob is either complete or absent, and
identical content is stored once (a second upload of it writes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import IO

from xxci.common.errors import NotFoundError
from xxci.orchestrator.store.blob_store import (
    CHUNK_SIZE,
    BlobRef,
    BlobTooLargeError,
    DigestMismatchError,
    parse_digest,
)
from xxci.orchestrator.store.postgres._pg import PgDatabase
from xxci.orchestrator.store.postgres.event_store import create_schema

__all__ = ["PgBlobStore", "PgBlobWriter"]

_SPOOL_IN_MEMORY = 4 * 1024 * 1024


class PgBlobStore:
    """Blobs of one database. Open with ``await PgBlobStore.open(url)``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str) -> PgBlobStore:
        db = await PgDatabase.open(url, max_size=4)
        try:
            await create_schema(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def stat(self, digest: str) -> BlobRef | None:
        parse_digest(digest)
        rows = await self._db.read("SELECT size FROM blobs WHERE digest = %s", (digest,))
        return BlobRef(digest, int(rows[0][0])) if rows else None

    async def put_bytes(self, data: bytes) -> BlobRef:
        async with self.open_writer() as writer:
            await writer.write(data)
            return await writer.commit()

    async def put_file(self, path: Path) -> BlobRef:
        async with self.open_writer() as writer:
            with path.open("rb") as source:
                while chunk := await asyncio.to_thread(source.read, CHUNK_SIZE):
                    await writer.write(chunk)
            return await writer.commit()

    def open_writer(self, max_size: int | None = None) -> PgBlobWriter:
        return PgBlobWriter(self._db, max_size)

    async def read_chunks(
        self, digest: str, chunk_size: int = CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """The blob's bytes in chunks of at most ``chunk_size`` (one stored chunk in
        memory at a time). NotFoundError on the first iteration if it is not stored."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        parse_digest(digest)
        rows = await self._db.read("SELECT chunks FROM blobs WHERE digest = %s", (digest,))
        if not rows:
            raise NotFoundError(f"no blob {digest}")
        pending = b""
        for n in range(int(rows[0][0])):
            found = await self._db.read(
                "SELECT data FROM blob_chunks WHERE digest = %s AND n = %s", (digest, n)
            )
            pending += bytes(found[0][0])
            while len(pending) >= chunk_size:
                yield pending[:chunk_size]
                pending = pending[chunk_size:]
        if pending:
            yield pending

    @contextlib.asynccontextmanager
    async def local_copy(self, digest: str) -> AsyncIterator[Path]:
        """The blob in a temp file for as long as the context lasts."""
        with tempfile.TemporaryDirectory(prefix="xxci-blob-") as folder:
            path = Path(folder) / "blob"
            with path.open("wb") as out:
                async with contextlib.aclosing(self.read_chunks(digest)) as chunks:
                    async for chunk in chunks:
                        await asyncio.to_thread(out.write, chunk)
            yield path

    async def remove_stale_uploads(self, older_than_seconds: float = 3600.0) -> int:
        """Nothing to remove: an upload is spooled by its process, never half stored."""
        return 0


class PgBlobWriter:
    """An upload in progress (the same contract as
    :class:`~xxci.orchestrator.store.blob_store.BlobWriter`)."""

    def __init__(self, db: PgDatabase, max_size: int | None) -> None:
        self._db = db
        self._max_size = max_size
        self._spool: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._finished = False
        self.size = 0

    def _open(self) -> IO[bytes]:
        if self._finished:
            raise RuntimeError("upload already committed or aborted")
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # noqa: SIM115
        return self._spool

    async def write(self, data: bytes) -> None:
        if self._max_size is not None and self.size + len(data) > self._max_size:
            await self.abort()
            raise BlobTooLargeError(f"blob larger than {self._max_size} bytes")
        spool = self._open()
        await asyncio.to_thread(spool.write, data)
        self._hash.update(data)
        self.size += len(data)

    async def commit(self, expected_digest: str | None = None) -> BlobRef:
        if expected_digest is not None:
            parse_digest(expected_digest)
        try:
            spool = self._open()
            digest = f"sha256:{self._hash.hexdigest()}"
            if expected_digest is not None and digest != expected_digest:
                raise DigestMismatchError(f"upload hashes to {digest}, not {expected_digest}")
            await self._db.complete(self._store(spool, digest))
            return BlobRef(digest, self.size)
        finally:
            await self.abort()

    async def _store(self, spool: IO[bytes], digest: str) -> None:
        if await self._db.read("SELECT 1 FROM blobs WHERE digest = %s", (digest,)):
            return  # stored already, identical by definition
        await asyncio.to_thread(spool.seek, 0)
        async with self._db.transaction() as conn:
            n = 0
            while True:
                chunk = await asyncio.to_thread(spool.read, CHUNK_SIZE)
                if not chunk and n > 0:
                    break
                if chunk:
                    await conn.execute(
                        b"INSERT INTO blob_chunks (digest, n, data) VALUES (%s, %s, %s)"
                        b" ON CONFLICT DO NOTHING",
                        (digest, n, chunk),
                    )
                    n += 1
                if not chunk:
                    break
            await conn.execute(
                b"INSERT INTO blobs (digest, size, chunks) VALUES (%s, %s, %s)"
                b" ON CONFLICT DO NOTHING",
                (digest, self.size, n),
            )

    async def abort(self) -> None:
        self._finished = True
        if self._spool is not None:
            spool, self._spool = self._spool, None
            await asyncio.to_thread(spool.close)

    async def __aenter__(self) -> PgBlobWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.abort()
