"""``BlobService``: chunked upload and download of content-addressed blobs, of the runs
(store ``""``) and of the job caches (store ``"cache"``).

A digest that is not ``sha256:<64 lowercase hex>`` is INVALID_ARGUMENT, a blob that
is not stored NOT_FOUND, and an upload past ``max_upload`` bytes RESOURCE_EXHAUSTED
(its bytes so far are discarded as they arrive, never held): each with a message,
none with a traceback in the server's log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc
from xxci.common.spec.limits import describe_size
from xxci.orchestrator.store import BlobStorage
from xxci.orchestrator.store.blob_store import BlobTooLargeError, parse_digest

Context = grpc.aio.ServicerContext[Any, Any]

CACHE_STORE = "cache"


async def _checked(digest: str, context: Context) -> None:
    try:
        parse_digest(digest)
    except ValueError as err:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))


class BlobServicer(blob_pb2_grpc.BlobServiceServicer):
    """The run blobs (store "") and, when given, the cache archives (store "cache");
    an upload to either is held to ``max_upload`` bytes."""

    def __init__(
        self,
        blobs: BlobStorage,
        max_upload: int | None = None,
        caches: BlobStorage | None = None,
    ) -> None:
        self._stores = {"": blobs, **({CACHE_STORE: caches} if caches is not None else {})}
        self._max_upload = max_upload

    async def _store(self, name: str, context: Context) -> BlobStorage:
        store = self._stores.get(name)
        if store is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"no blob store {name!r}")
        assert store is not None
        return store

    async def Upload(
        self, request_iterator: AsyncIterator[blob_pb2.BlobChunk], context: Context
    ) -> blob_pb2.BlobRef:
        chunks = aiter(request_iterator)
        first = await anext(chunks, blob_pb2.BlobChunk())
        writer = (await self._store(first.store, context)).open_writer(self._max_upload)
        expected = ""
        try:
            async for chunk in _prepend(first, chunks):
                if chunk.expected_digest and not expected:
                    expected = chunk.expected_digest
                    await _checked(expected, context)
                if chunk.data:
                    await writer.write(chunk.data)
            ref = await writer.commit(expected_digest=expected or None)
        except BlobTooLargeError:
            await writer.abort()
            limit = describe_size(self._max_upload or 0)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the upload is larger than this orchestrator's limit of {limit} per blob",
            )
        except ValueError as err:
            await writer.abort()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        except BaseException:
            await writer.abort()
            raise
        return blob_pb2.BlobRef(digest=ref.digest, size=ref.size)

    async def Download(
        self, request: blob_pb2.BlobRef, context: Context
    ) -> AsyncIterator[blob_pb2.BlobChunk]:
        await _checked(request.digest, context)
        blobs = await self._store(request.store, context)
        if await blobs.stat(request.digest) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        async for data in blobs.read_chunks(request.digest):
            yield blob_pb2.BlobChunk(data=data)

    async def Stat(self, request: blob_pb2.BlobRef, context: Context) -> blob_pb2.BlobStat:
        await _checked(request.digest, context)
        found = await (await self._store(request.store, context)).stat(request.digest)
        if found is None:
            return blob_pb2.BlobStat(exists=False)
        return blob_pb2.BlobStat(exists=True, size=found.size)


async def _prepend(
    first: blob_pb2.BlobChunk, rest: AsyncIterator[blob_pb2.BlobChunk]
) -> AsyncIterator[blob_pb2.BlobChunk]:
    yield first
    async for chunk in rest:
        yield chunk
