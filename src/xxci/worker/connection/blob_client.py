"""The orchestrator's ``BlobService``, as the blob store attempts fetch from and upload to
(:class:`~xxci.worker.attempt.blob_store.BlobStore`).

gRPC failures are translated here, once, into the xxci error a user would see (naming
the orchestrator); UNAVAILABLE becomes
:class:`~xxci.worker.attempt.blob_store.BlobStoreUnavailable`, which attempts retry.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import grpc
import grpc.aio

from xxci.common import blobs
from xxci.common.auth import translate_rpc_error
from xxci.worker.attempt.blob_store import BlobStoreUnavailable

__all__ = ["GrpcBlobStore"]

T = TypeVar("T")


class GrpcBlobStore:
    """Blobs of the orchestrator at ``target``, over ``channel``."""

    def __init__(self, channel: grpc.aio.Channel, target: str) -> None:
        self._channel = channel
        self._target = target

    async def download(self, digest: str, dest: Path) -> None:
        await self._translated(blobs.download(self._channel, digest, dest))

    async def upload(self, path: Path) -> str:
        return await self._translated(blobs.upload_file(self._channel, path))

    async def _translated(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as err:
            translated = translate_rpc_error(err, self._target)
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                raise BlobStoreUnavailable(str(translated)) from err
            raise translated from err
