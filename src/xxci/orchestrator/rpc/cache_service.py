"""``CacheService``: workers look up and save job caches; the CLI lists and removes them."""

from __future__ import annotations

from typing import Any

import grpc

from xxci.common.errors import NotFoundError
from xxci.common.pb.v1 import cache_pb2, cache_pb2_grpc
from xxci.orchestrator.runtime.job_caches import JobCaches
from xxci.orchestrator.store._sqlite import format_time
from xxci.orchestrator.store.cache_index import CacheEntry

Context = grpc.aio.ServicerContext[Any, Any]


def _entry(entry: CacheEntry) -> cache_pb2.CacheEntry:
    return cache_pb2.CacheEntry(
        scope=entry.scope,
        key=entry.key,
        digest=entry.digest,
        size=entry.size,
        saved_at=format_time(entry.saved_at),
        used_at=format_time(entry.used_at),
    )


class CacheServicer(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self, caches: JobCaches) -> None:
        self._caches = caches

    async def Lookup(
        self, request: cache_pb2.CacheLookupRequest, context: Context
    ) -> cache_pb2.CacheLookupResponse:
        entry = await self._caches.lookup(request.scope, list(request.keys))
        if entry is None:
            return cache_pb2.CacheLookupResponse(found=False)
        return cache_pb2.CacheLookupResponse(found=True, entry=_entry(entry))

    async def Save(
        self, request: cache_pb2.CacheSaveRequest, context: Context
    ) -> cache_pb2.CacheEntry:
        if not request.scope or not request.key:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a cache needs a scope and a key")
        try:
            entry = await self._caches.save(request.scope, request.key, request.digest)
        except (NotFoundError, ValueError) as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        return _entry(entry)

    async def List(
        self, request: cache_pb2.CacheListRequest, context: Context
    ) -> cache_pb2.CacheListResponse:
        entries = await self._caches.entries(request.scope)
        return cache_pb2.CacheListResponse(entries=[_entry(e) for e in entries])

    async def Remove(
        self, request: cache_pb2.CacheRemoveRequest, context: Context
    ) -> cache_pb2.CacheRemoveResponse:
        removed = await self._caches.remove(request.scope, request.key)
        return cache_pb2.CacheRemoveResponse(removed=len(removed))
