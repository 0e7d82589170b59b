"""BlobStore on a real directory: content addressing, verification, atomicity, safety."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import tracemalloc
from contextlib import aclosing
from pathlib import Path

import pytest

from xxci.common.errors import NotFoundError
from xxci.orchestrator.store import (
    BlobRef,
    BlobStorage,
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


async def test_put_bytes_and_read_back(fs_blobs: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(700_000)

    ref = await fs_blobs.put_bytes(data)

    assert ref == BlobRef(digest_of(data), len(data))
    hex_digest = ref.digest.removeprefix("sha256:")
    assert fs_blobs.path(ref.digest) == tmp_path / "blobs/sha256" / hex_digest[:2] / hex_digest[2:]
    assert fs_blobs.exists(ref.digest)
    assert fs_blobs.size(ref.digest) == len(data)
    assert await read_all(fs_blobs, ref.digest) == data
    chunks = [c async for c in fs_blobs.read_chunks(ref.digest, chunk_size=300_000)]
    assert [len(c) for c in chunks] == [300_000, 300_000, 100_000]
    async with await fs_blobs.open_reader(ref.digest) as reader:
        assert await reader.read(5) == data[:5]


async def test_put_file_and_identical_content_is_stored_once(
    fs_blobs: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "source.tar"
    source.write_bytes(b"tree" * 100_000)

    ref = await fs_blobs.put_file(source)
    again = await fs_blobs.put_bytes(b"tree" * 100_000)

    assert ref == again == BlobRef(digest_of(source.read_bytes()), 400_000)
    assert files_under(fs_blobs.root) == [fs_blobs.path(ref.digest)]
    assert await read_all(fs_blobs, ref.digest) == source.read_bytes()


async def test_empty_blob(fs_blobs: BlobStore) -> None:
    ref = await fs_blobs.put_bytes(b"")
    assert ref == BlobRef(digest_of(b""), 0)
    assert await read_all(fs_blobs, ref.digest) == b""
    assert await fs_blobs.open_writer().commit() == ref  # a writer with no writes


async def test_a_writer_touches_the_disk_only_when_written(fs_blobs: BlobStore) -> None:
    writer = fs_blobs.open_writer()
    assert not fs_blobs.root.exists()
    await writer.abort()
    assert not fs_blobs.root.exists()


async def test_incremental_writer_with_expected_digest(fs_blobs: BlobStore) -> None:
    parts = [os.urandom(100_000) for _ in range(5)]
    data = b"".join(parts)

    async with fs_blobs.open_writer() as writer:
        for part in parts:
            await writer.write(part)
        assert writer.size == len(data)
        ref = await writer.commit(expected_digest=digest_of(data))

    assert ref == BlobRef(digest_of(data), len(data))
    assert await read_all(fs_blobs, ref.digest) == data
    assert files_under(fs_blobs.root) == [fs_blobs.path(ref.digest)]


async def test_digest_mismatch_stores_nothing(fs_blobs: BlobStore) -> None:
    claimed = digest_of(b"what the client said")
    async with fs_blobs.open_writer() as writer:
        await writer.write(b"what actually arrived")
        with pytest.raises(DigestMismatchError):
            await writer.commit(expected_digest=claimed)

    assert not fs_blobs.exists(claimed)
    assert not fs_blobs.exists(digest_of(b"what actually arrived"))
    assert files_under(fs_blobs.root) == []  # no blob, no temp file


async def test_failed_upload_leaves_nothing(fs_blobs: BlobStore) -> None:
    with pytest.raises(ConnectionError):
        async with fs_blobs.open_writer() as writer:
            await writer.write(b"half of it")
            raise ConnectionError("client went away")
    assert files_under(fs_blobs.root) == []

    writer = fs_blobs.open_writer()
    await writer.write(b"x" * 10)
    await writer.abort()
    await writer.abort()  # idempotent
    with pytest.raises(RuntimeError):
        await writer.write(b"more")
    assert files_under(fs_blobs.root) == []


async def test_crash_before_rename_leaves_no_partial_blob(
    fs_blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        await fs_blobs.put_bytes(b"payload")
    assert files_under(fs_blobs.root) == []
    monkeypatch.undo()
    assert await fs_blobs.put_bytes(b"payload") == BlobRef(digest_of(b"payload"), 7)


async def test_cancelled_upload_leaves_nothing(fs_blobs: BlobStore) -> None:
    started = asyncio.Event()

    async def upload() -> None:
        async with fs_blobs.open_writer() as writer:
            while True:
                await writer.write(b"y" * 65536)
                started.set()

    task = asyncio.create_task(upload())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(fs_blobs.root) == []


async def test_size_limit(fs_blobs: BlobStore) -> None:
    writer = fs_blobs.open_writer(max_size=10)
    await writer.write(b"12345")
    with pytest.raises(BlobTooLargeError):
        await writer.write(b"123456")
    assert files_under(fs_blobs.root) == []


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
async def test_malformed_digests_are_rejected(fs_blobs: BlobStore, digest: str) -> None:
    with pytest.raises(ValueError, match="invalid blob digest"):
        fs_blobs.path(digest)
    with pytest.raises(ValueError):
        fs_blobs.exists(digest)
    with pytest.raises(ValueError):
        fs_blobs.size(digest)
    with pytest.raises(ValueError):
        await fs_blobs.open_reader(digest)
    with pytest.raises(ValueError):
        await read_all(fs_blobs, digest)
    writer = fs_blobs.open_writer()
    await writer.write(b"data")
    with pytest.raises(ValueError):
        await writer.commit(expected_digest=digest)
    await writer.abort()


async def test_missing_blob_is_not_found(fs_blobs: BlobStore) -> None:
    missing = digest_of(b"never stored")
    assert not fs_blobs.exists(missing)
    with pytest.raises(NotFoundError):
        fs_blobs.size(missing)
    with pytest.raises(NotFoundError):
        await fs_blobs.open_reader(missing)
    with pytest.raises(NotFoundError):
        await read_all(fs_blobs, missing)


async def test_stopping_a_read_early_closes_the_file(fs_blobs: BlobStore) -> None:
    ref = await fs_blobs.put_bytes(b"z" * 1000)
    async with aclosing(fs_blobs.read_chunks(ref.digest, chunk_size=10)) as chunks:
        async for first in chunks:
            assert first == b"z" * 10
            break


async def test_stale_uploads_are_removed(fs_blobs: BlobStore) -> None:
    writer = fs_blobs.open_writer()  # as if the process crashed mid-upload
    await writer.write(b"abandoned")
    (temp,) = files_under(fs_blobs.root)
    old = time.time() - 7200
    os.utime(temp, (old, old))
    fresh = fs_blobs.open_writer()
    await fresh.write(b"in progress")

    assert await fs_blobs.remove_stale_uploads(older_than_seconds=3600) == 1
    assert len(files_under(fs_blobs.root)) == 1  # the fresh upload is left alone
    await fresh.abort()
    await writer.abort()
    assert await BlobStore(fs_blobs.root / "elsewhere").remove_stale_uploads() == 0


async def test_blob_contract_put_read_and_missing(blob_store: BlobStorage, tmp_path: Path) -> None:
    """What every blob backend must do (the tests above are of the filesystem one)."""
    data = b"hello blobs" * 1000
    ref = await blob_store.put_bytes(data)
    assert ref == BlobRef(digest_of(data), len(data))
    assert await blob_store.stat(ref.digest) == ref
    assert b"".join([c async for c in blob_store.read_chunks(ref.digest, 1000)]) == data

    source = tmp_path / "file.bin"
    source.write_bytes(b"from a file")
    assert (await blob_store.put_file(source)).digest == digest_of(b"from a file")
    async with blob_store.open_writer() as writer:
        await writer.write(b"in ")
        await writer.write(b"parts")
        assert (await writer.commit(digest_of(b"in parts"))).size == 8

    missing = digest_of(b"never stored")
    assert await blob_store.stat(missing) is None
    with pytest.raises(NotFoundError, match=f"no blob {missing}"):
        async with aclosing(blob_store.read_chunks(missing)) as chunks:
            async for _ in chunks:
                pass
    with pytest.raises(NotFoundError, match=f"no blob {missing}"):
        async with blob_store.local_copy(missing):
            pass
    async with blob_store.local_copy(ref.digest) as path:
        assert path.read_bytes() == data


async def test_blob_contract_bad_uploads_store_nothing(blob_store: BlobStorage) -> None:
    """A digest mismatch, an upload past its limit, an aborted or empty upload."""
    async with blob_store.open_writer() as writer:
        await writer.write(b"the real bytes")
        with pytest.raises(DigestMismatchError, match="upload hashes to sha256:"):
            await writer.commit(digest_of(b"other bytes"))
    assert await blob_store.stat(digest_of(b"the real bytes")) is None

    limited = blob_store.open_writer(max_size=10)
    await limited.write(b"0123456789")
    with pytest.raises(BlobTooLargeError, match="blob larger than 10 bytes"):
        await limited.write(b"x")
    assert await blob_store.stat(digest_of(b"0123456789x")) is None

    async with blob_store.open_writer() as writer:
        await writer.write(b"abandoned")
    assert await blob_store.stat(digest_of(b"abandoned")) is None

    empty = await blob_store.put_bytes(b"")
    assert empty == BlobRef(digest_of(b""), 0)
    assert [c async for c in blob_store.read_chunks(empty.digest)] == []
    with pytest.raises(ValueError, match="invalid blob digest"):
        await blob_store.stat("sha256:../../etc/passwd")


async def test_blob_contract_large_blob_in_many_chunks(blob_store: BlobStorage) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: several stored chunks
    ref = await blob_store.put_bytes(data)
    again = await blob_store.put_bytes(data)  # identical content is stored once
    assert again == ref
    chunks = [c async for c in blob_store.read_chunks(ref.digest, 100_000)]
    assert all(len(c) == 100_000 for c in chunks[:-1]) and b"".join(chunks) == data


async def test_blob_contract_streams_in_and_out_in_flat_memory(blob_store: BlobStorage) -> None:
    """A blob many times larger than what the store may hold in memory at once goes in
    and comes out in chunks (the orchestrator's memory does not grow with blob size)."""
    size, piece = 48 * 1024 * 1024, os.urandom(256 * 1024)
    hasher = hashlib.sha256()
    tracemalloc.start()
    try:
        async with blob_store.open_writer(max_size=size) as writer:
            for _ in range(size // len(piece)):
                await writer.write(piece)
                hasher.update(piece)
            ref = await writer.commit()
        read_back = hashlib.sha256()
        async with aclosing(blob_store.read_chunks(ref.digest)) as chunks:
            async for chunk in chunks:
                read_back.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref == BlobRef(f"sha256:{hasher.hexdigest()}", size)
    assert read_back.hexdigest() == hasher.hexdigest()
    assert peak < 16 * 1024 * 1024, f"{peak / 2**20:.1f} MiB held at once"
