"""The storage edge of the orchestrator: event log, run index, report cache, logs, blobs.

The interfaces (the storage port) are in :mod:`.ports`; the runtime and the views
depend on those. The embedded backend: events, the run index, the report cache and log
chunks share one SQLite file (WAL); blobs are files under their own directory. The
domain (events, fold, scheduler) knows nothing of any of it.
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
from xxci.orchestrator.store.chain import Anchor, ChainReport, parse_anchor
from xxci.orchestrator.store.event_store import EventStore
from xxci.orchestrator.store.identity_store import IdentityRecord, WorkerIdentityStore
from xxci.orchestrator.store.log_store import LogChunk, LogStore
from xxci.orchestrator.store.ports import (
    BlobStorage,
    CacheStorage,
    ChangeFeed,
    EventLog,
    EventStorage,
    IdentityStorage,
    LogStorage,
    ReportStorage,
    RunIndex,
    SecretStorage,
)
from xxci.orchestrator.store.report_cache import CachedReport, CacheHit, ReportCache
from xxci.orchestrator.store.run_index import RunRow

__all__ = [
    "CHUNK_SIZE",
    "Anchor",
    "BlobRef",
    "BlobStorage",
    "BlobStore",
    "BlobTooLargeError",
    "BlobWriter",
    "CacheHit",
    "CacheStorage",
    "CachedReport",
    "ChainReport",
    "ChangeFeed",
    "DigestMismatchError",
    "EventLog",
    "EventStorage",
    "EventStore",
    "IdentityRecord",
    "IdentityStorage",
    "LogChunk",
    "LogStorage",
    "LogStore",
    "ReportCache",
    "ReportStorage",
    "RunIndex",
    "RunRow",
    "SecretStorage",
    "WorkerIdentityStore",
    "parse_anchor",
    "parse_digest",
]
