"""The storage port: what the orchestrator needs from a backend, and nothing else.

The runtime and the views depend on these interfaces, never on SQLite. A backend
provides all of them; the SQLite one (``EventStore``, ``LogStore``, ``ReportCache`` on
one file, ``BlobStore`` in a folder) is the embedded default, and every backend must
pass the shared contract suite in ``tests/integration/store``::

    EventStorage ── EventLog      append (optimistic per stream), reads, global position
                 ├─ RunIndex      one row per run, written with its RunCreated
                 └─ ChangeFeed    wake followers when the log grows
    LogStorage                    job output chunks, idempotent and followable
    ReportStorage                 finished runs' reports (derived; can be dropped)
    BlobStorage                   content-addressed bytes (sources, artifacts)
    Membership                    orchestrators' heartbeats, each worker's orchestrator
    IdentityStorage               registered workers: secret hashes, revocations
    CacheStorage                  the job caches' index: one entry per (scope, key)
    SecretStorage                 secrets' values, apart from everything else
                                  (both: SQLite in the data directory only, so far)

The contracts a backend must keep (each is a test of the suite):

* ``append`` is atomic and optimistic: the stream must be at ``expected_version``, or
  ConflictError and nothing is written; versions run 1..n without gaps.
* ``seq`` is a global position in commit order: a follower that read up to ``seq`` N
  never later finds an event with a smaller seq (no gaps appear behind a reader).
* a ``RunCreated`` is indexed in the same transaction as its append; run numbers per
  pipeline are distinct and gapless across every process writing the log.
* what was appended survives close and reopen (``synchronous=FULL`` on SQLite).
* a cache save replaces its key's entry; a lookup touches the first of its keys that
  has one; eviction goes least recently used first, an archive named twice counted once.
* a secret's value comes back only from ``values``, a pipeline's own winning over the
  one for every pipeline; the SQLite backend keeps them in a file of mode 0600.
* every event is sealed into one hash chain in seq order (``chain.py``), so
  ``check_chain`` finds any row edited, inserted, deleted or reordered behind its back.
* a worker identity's id is never given twice; a revocation is read back at once by
  every reader of the backend (no cache may keep a revoked credential valid).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from xxci.common.events import Event, RecordedEvent, RunCreated
from xxci.orchestrator.domain.identity import IdentityRecord
from xxci.orchestrator.store.blob_store import BlobRef
from xxci.orchestrator.store.cache_index import CacheEntry
from xxci.orchestrator.store.chain import Anchor, ChainReport
from xxci.orchestrator.store.log_store import LogChunk
from xxci.orchestrator.store.membership import Member
from xxci.orchestrator.store.report_cache import CachedReport, CacheHit, Detail
from xxci.orchestrator.store.run_index import RunRow
from xxci.orchestrator.store.secret_store import SecretInfo

__all__ = [
    "AsyncResource",
    "BlobStorage",
    "BlobUpload",
    "CacheStorage",
    "ChangeFeed",
    "EventLog",
    "EventStorage",
    "IdentityStorage",
    "LogStorage",
    "Membership",
    "ReportStorage",
    "RunIndex",
    "SecretStorage",
]


class AsyncResource(Protocol):
    """Closed with ``await close()`` (idempotent) or by leaving ``async with``."""

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class EventLog(Protocol):
    """Append-only streams of events with a global order."""

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Event],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Append as versions ``expected_version + 1 ...``; ConflictError if the stream
        moved (nothing written then)."""
        ...

    async def append_run_created(
        self,
        run_id: str,
        make_event: Callable[[int], RunCreated],
        at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Take the pipeline's next run number and append ``make_event(number)`` as the
        first event of ``run:<run_id>``, in one transaction."""
        ...

    async def read_stream(
        self, stream: str, after_version: int = 0, up_to_seq: int | None = None
    ) -> list[RecordedEvent]: ...

    async def read_all(
        self,
        since_seq: int = 0,
        limit: int | None = None,
        up_to_seq: int | None = None,
        stream_prefix: str | None = None,
    ) -> list[RecordedEvent]: ...

    async def read_streams(
        self, streams: Sequence[str], up_to_seq: int | None = None
    ) -> dict[str, list[RecordedEvent]]: ...

    async def stream_version(self, stream: str) -> int: ...

    async def last_seq(self) -> int: ...

    async def streams(self, prefix: str = "") -> list[str]: ...

    async def check_chain(self, anchor: Anchor | None = None) -> ChainReport:
        """Walk the hash chain (``chain.py``): the first break, the head, whether
        ``anchor`` holds. Appends must seal each event into the chain in seq order."""
        ...


class RunIndex(Protocol):
    """Runs by identity, without replaying the log."""

    async def next_run_number(self, pipeline: str) -> int: ...

    async def find_runs(
        self,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        limit: int | None = None,
    ) -> list[RunRow]: ...

    async def pipelines(self, repo: str | None = None) -> list[str]: ...

    async def live_runs(self) -> list[RunRow]:
        """The runs without a ``RunFinished``, oldest first: what start-up resumes. Its
        cost must not grow with the number of finished runs."""
        ...

    async def get_run(self, run_id: str) -> RunRow:
        """NotFoundError if there is no such run."""
        ...

    async def rebuild_run_index(self) -> int:
        """Recompute the index from the log; returns its row count."""
        ...


class ChangeFeed(Protocol):
    """Followers wait here for the log to grow."""

    async def wait_for(self, after_seq: int, timeout: float) -> bool:  # noqa: ASYNC109
        """True once an event with ``seq > after_seq`` exists; False after ``timeout`` s."""
        ...


class EventStorage(EventLog, RunIndex, ChangeFeed, AsyncResource, Protocol):
    """The event log with its run index and change feed, as one backend provides them."""


class LogStorage(AsyncResource, Protocol):
    """Job output: idempotent appends keyed by (run, job, attempt, seq), followable."""

    async def append(
        self,
        run_id: str,
        job: str,
        attempt: int,
        seq: int,
        stream: str,
        data: bytes,
        at: datetime | None = None,
    ) -> bool: ...

    async def append_many(self, chunks: Iterable[LogChunk]) -> int: ...

    async def read(
        self, run_id: str, job: str, attempt: int, after_seq: int = 0, limit: int | None = None
    ) -> list[LogChunk]: ...

    async def attempts(self, run_id: str, job: str) -> list[int]: ...

    async def last_seq(self, run_id: str, job: str, attempt: int) -> int: ...

    async def wait_for(
        self,
        run_id: str,
        job: str,
        attempt: int,
        after_seq: int,
        timeout: float,  # noqa: ASYNC109
    ) -> bool: ...


class ReportStorage(AsyncResource, Protocol):
    """Reports of finished runs, each valid while its stream is at the cached version."""

    async def select(
        self,
        *,
        repo: str | None = None,
        pipeline: str | None = None,
        number: int | None = None,
        branch: str | None = None,
        run_ids: Sequence[str] | None = None,
        up_to_seq: int | None = None,
        limit: int | None = None,
        detail: Detail = "summary",
    ) -> list[tuple[RunRow, CacheHit | None]]:
        """Runs matching every given filter (created at or before ``up_to_seq``;
        among ``run_ids``), oldest first (with ``limit``: the newest ``limit``), each
        with its cached ``detail`` ("status": the run's status alone) when a row
        exists for the stream's current version."""
        ...

    async def save(self, entries: Sequence[CachedReport]) -> None: ...

    async def entries(self) -> dict[str, CachedReport]: ...


class Membership(AsyncResource, Protocol):
    """The orchestrators serving a store and the workers connected to each
    (:mod:`xxci.orchestrator.store.membership`). Times are wall-clock seconds."""

    async def beat(self, orchestrator: str, address: str, at: float) -> None: ...

    async def leave(self, orchestrator: str) -> None: ...

    async def members(self, alive_since: float) -> list[Member]: ...

    async def set_home(self, worker_id: str, orchestrator: str, at: float) -> None: ...

    async def clear_home(self, worker_id: str, orchestrator: str) -> None: ...

    async def homes(self) -> dict[str, str]: ...


class BlobUpload(Protocol):
    """An upload in progress: ``write`` chunks, then ``commit``; ``abort`` discards it.
    Leaving ``async with`` without a commit aborts it: nothing half-written is kept."""

    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None:
        """Append ``data``; BlobTooLargeError (and the upload aborted) past the limit."""
        ...

    async def commit(self, expected_digest: str | None = None) -> BlobRef:
        """Store the bytes under their digest (DigestMismatchError, nothing stored, if
        they do not hash to ``expected_digest``)."""
        ...

    async def abort(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStorage(Protocol):
    """Content-addressed blobs named ``sha256:<hex>``, reachable by every orchestrator
    of the store. A malformed digest is a ValueError before any I/O."""

    async def stat(self, digest: str) -> BlobRef | None:
        """The blob's digest and size; None if it is not stored."""
        ...

    async def put_bytes(self, data: bytes) -> BlobRef: ...

    async def put_file(self, path: Path) -> BlobRef: ...

    def open_writer(self, max_size: int | None = None) -> BlobUpload: ...

    def read_chunks(self, digest: str, chunk_size: int = ...) -> AsyncGenerator[bytes, None]:
        """The bytes in chunks; NotFoundError on the first iteration if not stored."""
        ...

    def local_copy(self, digest: str) -> AbstractAsyncContextManager[Path]:
        """The blob as a local file while the context lasts (NotFoundError if missing)."""
        ...

    async def remove_stale_uploads(self, older_than_seconds: float = 3600.0) -> int: ...

    async def close(self) -> None: ...


class IdentityStorage(AsyncResource, Protocol):
    """Registered workers, each with the hash of its secret (never the secret)."""

    async def add(self, record: IdentityRecord) -> None:
        """Store a new identity; ConflictError if its id is taken (nothing written)."""
        ...

    async def get(self, worker_id: str) -> IdentityRecord | None: ...

    async def all(self) -> list[IdentityRecord]:
        """Every identity, revoked ones too, oldest registration first."""
        ...

    async def seen(self, worker_id: str, at: datetime, name: str | None = None) -> None:
        """The worker was heard from at ``at`` (under ``name``); never moves back."""
        ...

    async def revoke(self, worker_id: str, at: datetime) -> bool:
        """Revoke it; False if unknown or revoked already (the first time stays)."""
        ...


class CacheStorage(AsyncResource, Protocol):
    """The job caches' index: one entry (an archive's digest) per (scope, key)."""

    async def lookup(self, scope: str, keys: Sequence[str], now: datetime) -> CacheEntry | None:
        """The entry of the first of ``keys`` in ``scope`` that has one, touched."""
        ...

    async def save(
        self, scope: str, key: str, digest: str, size: int, now: datetime
    ) -> CacheEntry: ...

    async def entries(self, scope: str = "") -> list[CacheEntry]:
        """Most recently used first; ``scope`` "" for all."""
        ...

    async def remove(self, scope: str = "", key: str = "") -> list[CacheEntry]: ...

    async def evict(self, max_bytes: int) -> list[CacheEntry]: ...

    async def unreferenced(self, digests: Sequence[str]) -> list[str]: ...


class SecretStorage(AsyncResource, Protocol):
    """Secrets by name, for every pipeline (``pipeline`` "") or for one."""

    async def put(self, name: str, value: bytes, pipeline: str, now: datetime) -> SecretInfo: ...

    async def infos(self) -> list[SecretInfo]:
        """Every secret, without its value."""
        ...

    async def remove(self, name: str, pipeline: str) -> bool: ...

    async def values(self, pipeline: str, names: Sequence[str]) -> dict[str, bytes]:
        """The values a job of ``pipeline`` gets for ``names`` (absent ones left out)."""
        ...

    async def known(self, pipeline: str, names: Sequence[str]) -> set[str]: ...
