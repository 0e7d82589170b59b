"""The orchestrator's blob store, as an attempt sees it: fetch by digest, upload a file.

An attempt downloads its source tree and earlier jobs' artifacts and uploads its own
artifacts through a :class:`BlobStore`. The connection layer implements it over gRPC
(:mod:`xxci.worker.connection.blob_client`); its errors are xxci errors whose text
names the orchestrator, and :class:`BlobStoreUnavailable` says "try again later".
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from xxci.common.errors import ConnectionFailed

__all__ = ["BlobStore", "BlobStoreUnavailable"]


class BlobStoreUnavailable(ConnectionFailed):
    """The store cannot be reached right now; the same call may work later."""


class BlobStore(Protocol):
    """Content-addressed blobs (``sha256:<hex>`` of their bytes).

    Both calls raise :class:`BlobStoreUnavailable` while the store is unreachable, and
    another :class:`~xxci.common.errors.XxciError` (or ``OSError`` for the local file)
    for a failure that retrying would not cure.
    """

    async def download(self, digest: str, dest: Path) -> None:
        """Write blob ``digest`` to ``dest``, verified; ``dest`` is absent or complete."""
        ...

    async def upload(self, path: Path) -> str:
        """Store the file at ``path``; its digest."""
        ...
