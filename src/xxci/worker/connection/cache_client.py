"""The orchestrator's ``CacheService`` and its cache archive store, as an attempt's
:class:`~xxci.worker.attempt.cache_store.CacheIndex`."""

from __future__ import annotations

from pathlib import Path

import grpc.aio

from xxci.common import blobs
from xxci.common.pb.v1 import cache_pb2, cache_pb2_grpc
from xxci.worker.attempt.cache_store import CacheHit
from xxci.worker.connection.blob_client import GrpcBlobStore

__all__ = ["CACHE_STORE", "GrpcCacheIndex"]

CACHE_STORE = "cache"


class GrpcCacheIndex(GrpcBlobStore):
    """Cache entries and archives of the orchestrator at ``target``."""

    def __init__(self, channel: grpc.aio.Channel, target: str) -> None:
        super().__init__(channel, target)
        self._stub = cache_pb2_grpc.CacheServiceStub(channel)

    async def lookup(self, scope: str, keys: tuple[str, ...]) -> CacheHit | None:
        request = cache_pb2.CacheLookupRequest(scope=scope, keys=list(keys))
        answer = await self._translated(self._stub.Lookup(request))
        if not answer.found:
            return None
        return CacheHit(answer.entry.key, answer.entry.digest, answer.entry.size)

    async def save(self, scope: str, key: str, digest: str) -> None:
        request = cache_pb2.CacheSaveRequest(scope=scope, key=key, digest=digest)
        await self._translated(self._stub.Save(request))

    async def download(self, digest: str, dest: Path) -> None:
        await self._translated(blobs.download(self._channel, digest, dest, CACHE_STORE))

    async def upload(self, path: Path) -> str:
        return await self._translated(blobs.upload_file(self._channel, path, CACHE_STORE))
