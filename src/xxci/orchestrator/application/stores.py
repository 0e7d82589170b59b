"""The secret store and the job caches, as the API offers them to clients.

A mixin of :class:`~xxci.orchestrator.application.service.OrchestratorService`: the
checks a secret must pass live here once, for ``--local`` and gRPC clients alike. No
method returns a secret's value.
"""

from __future__ import annotations

from xxci.common.api import CacheInfo, SecretInfo
from xxci.common.errors import UsageError
from xxci.common.spec.secrets import SECRET_NAME
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.orchestrator.store._sqlite import format_time
from xxci.orchestrator.store.cache_index import CacheEntry
from xxci.orchestrator.store.secret_store import SecretInfo as StoredSecret

__all__ = ["MAX_SECRET_BYTES", "MIN_SECRET_BYTES", "StoresApi"]

MIN_SECRET_BYTES = 4
"""Shorter values are refused: they could not be masked without garbling the logs."""
MAX_SECRET_BYTES = 1024 * 1024


def secret_info(info: StoredSecret) -> SecretInfo:
    return SecretInfo(info.name, info.pipeline, info.size, format_time(info.updated_at))


def cache_info(entry: CacheEntry) -> CacheInfo:
    return CacheInfo(
        entry.scope, entry.key, entry.size, format_time(entry.saved_at), format_time(entry.used_at)
    )


class StoresApi:
    """Secrets and caches of ``self._o``."""

    _o: Orchestrator

    async def set_secret(self, name: str, value: bytes, pipeline: str = "") -> SecretInfo:
        if not SECRET_NAME.fullmatch(name):
            raise UsageError(
                f"invalid secret name {name!r}: letters, digits and _, not first a digit"
            )
        if not MIN_SECRET_BYTES <= len(value) <= MAX_SECRET_BYTES:
            raise UsageError(
                f"a secret's value must be {MIN_SECRET_BYTES} bytes to 1 MiB long (so it can"
                f" be masked); this one has {len(value)}"
            )
        return secret_info(await self._o.secrets.put(name, value, pipeline, self._o.clock.now()))

    async def secrets(self) -> list[SecretInfo]:
        return [secret_info(i) for i in await self._o.secrets.infos()]

    async def remove_secret(self, name: str, pipeline: str = "") -> bool:
        return await self._o.secrets.remove(name, pipeline)

    async def caches(self, pipeline: str = "") -> list[CacheInfo]:
        return [cache_info(e) for e in await self._o.caches.entries(pipeline)]

    async def remove_caches(self, pipeline: str = "", key: str = "") -> int:
        return len(await self._o.caches.remove(pipeline, key))
