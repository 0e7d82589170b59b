"""``CacheService``: workers look up and save job caches; the CLI lists and removes them."""

from __future__ import annotations

from typing import Any

import grpc

from xxci.common.api import CacheInfo, OrchestratorApi
from xxci.common.errors import NotFoundError
from xxci.common.pb.v1 import cache_pb2, cache_pb2_grpc
from xxci.orchestrator.application.stores import cache_info
from xxci.orchestrator.runtime.job_caches import JobCaches
from xxci.orchestrator.store.cache_index import CacheEntry

Context = grpc.aio.ServicerContext[Any, Any]


def _info(info: CacheInfo, digest: str = "") -> cache_pb2.CacheEntry:
    return cache_pb2.CacheEntry(
        scope=info.pipeline,
        key=info.key,
        digest=digest,
        size=info.size,
        saved_at=info.saved_at,
        used_at=info.used_at,
    )


def _entry(entry: CacheEntry) -> cache_pb2.CacheEntry:
    return _info(cache_info(entry), entry.digest)


class CacheServicer(cache_pb2_grpc.CacheServiceServicer):
    """Lookup and Save (the workers') on the caches themselves; List and Remove (the
    clients') through the API."""

    def __init__(self, caches: JobCaches, api: OrchestratorApi) -> None:
        self._caches = caches
        self._api = api

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
        entries = await self._api.caches(request.scope)
        return cache_pb2.CacheListResponse(entries=[_info(e) for e in entries])

    async def Remove(
        self, request: cache_pb2.CacheRemoveRequest, context: Context
    ) -> cache_pb2.CacheRemoveResponse:
        removed = await self._api.remove_caches(request.scope, request.key)
        return cache_pb2.CacheRemoveResponse(removed=removed)
