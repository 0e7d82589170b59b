"""``BlobService``: chunked upload and download of content-addressed blobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc
from xxci.orchestrator.store import BlobStorage

Context = grpc.aio.ServicerContext[Any, Any]


class BlobServicer(blob_pb2_grpc.BlobServiceServicer):
    def __init__(self, blobs: BlobStorage) -> None:
        self._blobs = blobs

    async def Upload(
        self, request_iterator: AsyncIterator[blob_pb2.BlobChunk], context: Context
    ) -> blob_pb2.BlobRef:
        writer = self._blobs.open_writer()
        expected = ""
        try:
            async for chunk in request_iterator:
                if chunk.expected_digest and not expected:
                    expected = chunk.expected_digest
                if chunk.data:
                    await writer.write(chunk.data)
            ref = await writer.commit(expected_digest=expected or None)
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
        if await self._blobs.stat(request.digest) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        async for data in self._blobs.read_chunks(request.digest):
            yield blob_pb2.BlobChunk(data=data)

    async def Stat(self, request: blob_pb2.BlobRef, context: Context) -> blob_pb2.BlobStat:
        found = await self._blobs.stat(request.digest)
        if found is None:
            return blob_pb2.BlobStat(exists=False)
        return blob_pb2.BlobStat(exists=True, size=found.size)
