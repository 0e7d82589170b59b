"""The storage edge of the orchestrator: event log, run index, report cache, logs, blobs.

Events, the run index, the report cache and log chunks share one SQLite file (WAL);
blobs are files under their own directory. Everything here is I/O behind small async
interfaces; the domain (events, fold, scheduler) knows nothing of it.
"""

from xxci.orchestrator.store.blob_store import (
    CHUNK_SIZE,
    BlobRef,
    BlobStore,
    BlobTooLargeError,
    BlobWriter,
    DigestMismatchError,
    parse_digest,
)
from xxci.orchestrator.store.event_store import EventStore
from xxci.orchestrator.store.log_store import LogChunk, LogStore
from xxci.orchestrator.store.report_cache import CachedReport, CacheHit, ReportCache
from xxci.orchestrator.store.run_index import RunRow

__all__ = [
    "CHUNK_SIZE",
    "BlobRef",
    "BlobStore",
    "BlobTooLargeError",
    "BlobWriter",
    "CacheHit",
    "CachedReport",
    "DigestMismatchError",
    "EventStore",
    "LogChunk",
    "LogStore",
    "ReportCache",
    "RunRow",
    "parse_digest",
]
