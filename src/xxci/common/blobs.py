"""Client helpers over ``BlobService``: content-addressed upload and verified download.

Blobs are named ``sha256:<hex>`` of their bytes. gRPC failures propagate as
``grpc.aio.AioRpcError`` (translate them with
:func:`xxci.common.auth.translate_rpc_error` where the target is known); a download
whose bytes do not match its digest raises :class:`BlobDigestMismatch`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio

from xxci.common.errors import XxciError
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc

__all__ = [
    "CHUNK_SIZE",
    "BlobDigestMismatch",
    "download",
    "file_digest",
    "upload_file",
]

CHUNK_SIZE = 256 * 1024
_PREFIX = "sha256:"


class BlobDigestMismatch(XxciError):
    """Downloaded (or uploaded) bytes whose sha256 is not the digest they were named by."""


def _file_digest_sync(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return _PREFIX + digest.hexdigest()


async def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes (hashed in a thread)."""
    return await asyncio.to_thread(_file_digest_sync, path)


async def _chunks(path: Path, digest: str, store: str) -> AsyncIterator[blob_pb2.BlobChunk]:
    with path.open("rb") as f:
        first = True
        while True:
            data = await asyncio.to_thread(f.read, CHUNK_SIZE)
            if not data and not first:
                return
            yield blob_pb2.BlobChunk(
                data=data, expected_digest=digest if first else "", store=store if first else ""
            )
            first = False
            if len(data) < CHUNK_SIZE:
                return


async def upload_file(channel: grpc.aio.Channel, path: Path, store: str = "") -> str:
    """Upload ``path`` as a blob (into ``store``: "" or "cache") and return its
    digest; skipped when the blob exists.

    The digest is computed first and sent with the first chunk, so the server
    rejects (INVALID_ARGUMENT) bytes that changed in between.
    """
    stub = blob_pb2_grpc.BlobServiceStub(channel)
    digest = await file_digest(path)
    stat = await stub.Stat(blob_pb2.BlobRef(digest=digest, store=store))
    if stat.exists:
        return digest
    ref = await stub.Upload(_chunks(path, digest, store))
    if ref.digest and ref.digest != digest:
        raise BlobDigestMismatch(
            f"the orchestrator stored {path} as {ref.digest}, expected {digest}"
        )
    return digest


async def download(channel: grpc.aio.Channel, digest: str, dest: Path, store: str = "") -> None:
    """Download blob ``digest`` (of ``store``) to ``dest``, verifying its sha256.

    Bytes go to a temporary file next to ``dest`` that is renamed into place only
    once verified, so ``dest`` is either absent or complete.
    """
    if not digest.startswith(_PREFIX):
        raise XxciError(f"not a blob digest: {digest!r}")
    stub = blob_pb2_grpc.BlobServiceStub(channel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as f:
            async for chunk in stub.Download(blob_pb2.BlobRef(digest=digest, store=store)):
                hasher.update(chunk.data)
                await asyncio.to_thread(f.write, chunk.data)
        actual = _PREFIX + hasher.hexdigest()
        if actual != digest:
            raise BlobDigestMismatch(f"blob {digest} arrived with different bytes ({actual})")
        await asyncio.to_thread(tmp.replace, dest)
    finally:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)
