"""Secrets and caches over gRPC (``SecretService``, ``CacheService``): the part of
:class:`~xxci.cli.client.remote.GrpcClient` that knows those messages."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import grpc.aio

from xxci.common.api import CacheInfo, SecretInfo
from xxci.common.pb.v1 import cache_pb2, cache_pb2_grpc, secret_pb2, secret_pb2_grpc

__all__ = ["StoreCalls"]


class StoreCalls:
    """A mixin: ``_channel`` and ``_translated`` are the client's."""

    _channel: grpc.aio.Channel

    def _translated(self) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    @property
    def _secret_stub(self) -> secret_pb2_grpc.SecretServiceAsyncStub:
        return secret_pb2_grpc.SecretServiceStub(self._channel)

    @property
    def _cache_stub(self) -> cache_pb2_grpc.CacheServiceAsyncStub:
        return cache_pb2_grpc.CacheServiceStub(self._channel)

    async def set_secret(self, name: str, value: bytes, pipeline: str = "") -> SecretInfo:
        request = secret_pb2.SetSecretRequest(name=name, value=value, pipeline=pipeline)
        async with self._translated():
            info = await self._secret_stub.SetSecret(request)
        return SecretInfo(info.name, info.pipeline, info.size, info.updated_at)

    async def secrets(self) -> list[SecretInfo]:
        async with self._translated():
            reply = await self._secret_stub.ListSecrets(secret_pb2.ListSecretsRequest())
        return [SecretInfo(i.name, i.pipeline, i.size, i.updated_at) for i in reply.secrets]

    async def remove_secret(self, name: str, pipeline: str = "") -> bool:
        request = secret_pb2.RemoveSecretRequest(name=name, pipeline=pipeline)
        async with self._translated():
            return (await self._secret_stub.RemoveSecret(request)).removed

    async def caches(self, pipeline: str = "") -> list[CacheInfo]:
        async with self._translated():
            reply = await self._cache_stub.List(cache_pb2.CacheListRequest(scope=pipeline))
        return [CacheInfo(e.scope, e.key, e.size, e.saved_at, e.used_at) for e in reply.entries]

    async def remove_caches(self, pipeline: str = "", key: str = "") -> int:
        request = cache_pb2.CacheRemoveRequest(scope=pipeline, key=key)
        async with self._translated():
            return (await self._cache_stub.Remove(request)).removed
