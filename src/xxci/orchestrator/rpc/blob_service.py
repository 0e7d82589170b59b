"""``BlobService``: chunked upload and download of content-addressed blobs.

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


async def _checked(digest: str, context: Context) -> None:
    try:
        parse_digest(digest)
    except ValueError as err:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))


class BlobServicer(blob_pb2_grpc.BlobServiceServicer):
    def __init__(self, blobs: BlobStorage, max_upload: int | None = None) -> None:
        self._blobs = blobs
        self._max_upload = max_upload

    async def Upload(
        self, request_iterator: AsyncIterator[blob_pb2.BlobChunk], context: Context
    ) -> blob_pb2.BlobRef:
        writer = self._blobs.open_writer(self._max_upload)
        expected = ""
        try:
            async for chunk in request_iterator:
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
        if await self._blobs.stat(request.digest) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        async for data in self._blobs.read_chunks(request.digest):
            yield blob_pb2.BlobChunk(data=data)

    async def Stat(self, request: blob_pb2.BlobRef, context: Context) -> blob_pb2.BlobStat:
        await _checked(request.digest, context)
        found = await self._blobs.stat(request.digest)
        if found is None:
            return blob_pb2.BlobStat(exists=False)
        return blob_pb2.BlobStat(exists=True, size=found.size)
