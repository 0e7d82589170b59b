"""BlobStore on a real directory: content addressing, verification, atomicity, safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from contextlib import aclosing
from pathlib import Path

import pytest

from xxci.common.errors import NotFoundError
from xxci.orchestrator.store import (
    BlobRef,
    BlobStore,
    BlobTooLargeError,
    DigestMismatchError,
)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def read_all(store: BlobStore, digest: str, chunk_size: int = 256 * 1024) -> bytes:
    return b"".join([c async for c in store.read_chunks(digest, chunk_size)])


async def test_put_bytes_and_read_back(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(700_000)

    ref = await blob_store.put_bytes(data)

    assert ref == BlobRef(digest_of(data), len(data))
    hex_digest = ref.digest.removeprefix("sha256:")
    assert (
        blob_store.path(ref.digest) == tmp_path / "blobs/sha256" / hex_digest[:2] / hex_digest[2:]
    )
    assert blob_store.exists(ref.digest)
    assert blob_store.size(ref.digest) == len(data)
    assert await read_all(blob_store, ref.digest) == data
    chunks = [c async for c in blob_store.read_chunks(ref.digest, chunk_size=300_000)]
    assert [len(c) for c in chunks] == [300_000, 300_000, 100_000]
    async with await blob_store.open_reader(ref.digest) as reader:
        assert await reader.read(5) == data[:5]


async def test_put_file_and_identical_content_is_stored_once(
    blob_store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "source.tar"
    source.write_bytes(b"tree" * 100_000)

    ref = await blob_store.put_file(source)
    again = await blob_store.put_bytes(b"tree" * 100_000)

    assert ref == again == BlobRef(digest_of(source.read_bytes()), 400_000)
    assert files_under(blob_store.root) == [blob_store.path(ref.digest)]
    assert await read_all(blob_store, ref.digest) == source.read_bytes()


async def test_empty_blob(blob_store: BlobStore) -> None:
    ref = await blob_store.put_bytes(b"")
    assert ref == BlobRef(digest_of(b""), 0)
    assert await read_all(blob_store, ref.digest) == b""
    assert await blob_store.open_writer().commit() == ref  # a writer with no writes


async def test_a_writer_touches_the_disk_only_when_written(blob_store: BlobStore) -> None:
    writer = blob_store.open_writer()
    assert not blob_store.root.exists()
    await writer.abort()
    assert not blob_store.root.exists()


async def test_incremental_writer_with_expected_digest(blob_store: BlobStore) -> None:
    parts = [os.urandom(100_000) for _ in range(5)]
    data = b"".join(parts)

    async with blob_store.open_writer() as writer:
        for part in parts:
            await writer.write(part)
        assert writer.size == len(data)
        ref = await writer.commit(expected_digest=digest_of(data))

    assert ref == BlobRef(digest_of(data), len(data))
    assert await read_all(blob_store, ref.digest) == data
    assert files_under(blob_store.root) == [blob_store.path(ref.digest)]


async def test_digest_mismatch_stores_nothing(blob_store: BlobStore) -> None:
    claimed = digest_of(b"what the client said")
    async with blob_store.open_writer() as writer:
        await writer.write(b"what actually arrived")
        with pytest.raises(DigestMismatchError):
            await writer.commit(expected_digest=claimed)

    assert not blob_store.exists(claimed)
    assert not blob_store.exists(digest_of(b"what actually arrived"))
    assert files_under(blob_store.root) == []  # no blob, no temp file


async def test_failed_upload_leaves_nothing(blob_store: BlobStore) -> None:
    with pytest.raises(ConnectionError):
        async with blob_store.open_writer() as writer:
            await writer.write(b"half of it")
            raise ConnectionError("client went away")
    assert files_under(blob_store.root) == []

    writer = blob_store.open_writer()
    await writer.write(b"x" * 10)
    await writer.abort()
    await writer.abort()  # idempotent
    with pytest.raises(RuntimeError):
        await writer.write(b"more")
    assert files_under(blob_store.root) == []


async def test_crash_before_rename_leaves_no_partial_blob(
    blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        await blob_store.put_bytes(b"payload")
    assert files_under(blob_store.root) == []
    monkeypatch.undo()
    assert await blob_store.put_bytes(b"payload") == BlobRef(digest_of(b"payload"), 7)


async def test_cancelled_upload_leaves_nothing(blob_store: BlobStore) -> None:
    started = asyncio.Event()

    async def upload() -> None:
        async with blob_store.open_writer() as writer:
            while True:
                await writer.write(b"y" * 65536)
                started.set()

    task = asyncio.create_task(upload())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(blob_store.root) == []


async def test_size_limit(blob_store: BlobStore) -> None:
    writer = blob_store.open_writer(max_size=10)
    await writer.write(b"12345")
    with pytest.raises(BlobTooLargeError):
        await writer.write(b"123456")
    assert files_under(blob_store.root) == []


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "sha256:",
        "sha256:../../../../etc/passwd",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 62 + "/x",
        "sha512:" + "a" * 64,
        "../" + "a" * 64,
        "sha256:" + "a" * 64 + "\n",
    ],
)
async def test_malformed_digests_are_rejected(blob_store: BlobStore, digest: str) -> None:
    with pytest.raises(ValueError, match="invalid blob digest"):
        blob_store.path(digest)
    with pytest.raises(ValueError):
        blob_store.exists(digest)
    with pytest.raises(ValueError):
        blob_store.size(digest)
    with pytest.raises(ValueError):
        await blob_store.open_reader(digest)
    with pytest.raises(ValueError):
        await read_all(blob_store, digest)
    writer = blob_store.open_writer()
    await writer.write(b"data")
    with pytest.raises(ValueError):
        await writer.commit(expected_digest=digest)
    await writer.abort()


async def test_missing_blob_is_not_found(blob_store: BlobStore) -> None:
    missing = digest_of(b"never stored")
    assert not blob_store.exists(missing)
    with pytest.raises(NotFoundError):
        blob_store.size(missing)
    with pytest.raises(NotFoundError):
        await blob_store.open_reader(missing)
    with pytest.raises(NotFoundError):
        await read_all(blob_store, missing)


async def test_stopping_a_read_early_closes_the_file(blob_store: BlobStore) -> None:
    ref = await blob_store.put_bytes(b"z" * 1000)
    async with aclosing(blob_store.read_chunks(ref.digest, chunk_size=10)) as chunks:
        async for first in chunks:
            assert first == b"z" * 10
            break


async def test_stale_uploads_are_removed(blob_store: BlobStore) -> None:
    writer = blob_store.open_writer()  # as if the process crashed mid-upload
    await writer.write(b"abandoned")
    (temp,) = files_under(blob_store.root)
    old = time.time() - 7200
    os.utime(temp, (old, old))
    fresh = blob_store.open_writer()
    await fresh.write(b"in progress")

    assert await blob_store.remove_stale_uploads(older_than_seconds=3600) == 1
    assert len(files_under(blob_store.root)) == 1  # the fresh upload is left alone
    await fresh.abort()
    await writer.abort()
    assert await BlobStore(blob_store.root / "elsewhere").remove_stale_uploads() == 0
