"""The worker's side of ``WorkerService.Connect``: hold the stream, run what it assigns.

:class:`WorkerAgent` dials out and keeps one :class:`~xxci.worker.connection.session.Session`
(one stream: Hello, Welcome, heartbeats, assignments, cancels, acks) open at a time,
reconnecting with exponential backoff and jitter, capped at ``backoff_max`` (2 s): an
orchestrator that comes back is found within about that. Why it cannot connect goes to
the log when the reason changes, and as a reminder every :data:`REMIND_SECONDS`.
Each accepted assignment runs as an
:class:`~xxci.worker.attempt.runner.AttemptRunner` task owned by
:class:`~xxci.worker.connection.attempts.Attempts`. Attempt messages stay in their
outboxes (see :mod:`xxci.worker.connection.outbox`) until the orchestrator
acknowledges them. When the stream breaks, attempts keep running; the next Hello lists
them as running, and after the next Welcome every message not acknowledged yet is sent
again, in order. What retrying cannot fix is fatal: :meth:`WorkerAgent.run` raises
:class:`~xxci.common.errors.AuthError` for a refused token and
:class:`~xxci.common.errors.TlsError` when one end speaks TLS and the other does not
(or the certificate is not trusted).

Identity: before its first stream the worker needs its own credential. It reads it
from its work dir, or registers with the shared token and saves the answer there
(:mod:`xxci.worker.connection.credential_file`); every call after that carries the
credential, never the shared token. A refused credential (revoked, or unknown to this
orchestrator) is fatal too: the worker must be registered again (``--register``).

Stopping: :meth:`WorkerAgent.stop` ``(drain=True)`` sends Draining, rejects new
work, waits for running attempts and for the orchestrator to acknowledge their
messages (reconnecting for that if need be, for up to ``flush_timeout`` seconds),
then closes the stream; ``drain=False`` first cancels the running attempts. Both are
idempotent, and a hard stop may follow a drain (see
:mod:`xxci.worker.connection.stopping`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc.aio

import xxci
from xxci.common.auth import open_channel
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.credentials import WorkerCredential
from xxci.common.errors import ConnectionFailed
from xxci.common.file_cache import FileCache
from xxci.worker.attempt.cache_store import DEFAULT_LOCAL_MAX_BYTES, LocalCopies
from xxci.worker.attempt.log_batcher import MAX_CHUNK_BYTES
from xxci.worker.attempt.messages import MessageSink
from xxci.worker.attempt.runner import AttemptRunner
from xxci.worker.connection import registration
from xxci.worker.connection.attempts import Attempts
from xxci.worker.connection.blob_client import GrpcBlobStore
from xxci.worker.connection.cache_client import GrpcCacheIndex
from xxci.worker.connection.concurrency import backoff_delay
from xxci.worker.connection.credential_file import (
    CREDENTIAL_FILE,
    CredentialLock,
    load_credential,
    save_credential,
)
from xxci.worker.connection.outbox import DEFAULT_MAX_LOG_BYTES, Outboxes
from xxci.worker.connection.protocol import Hello
from xxci.worker.connection.session import Disconnected, Session
from xxci.worker.connection.stopping import Stopping
from xxci.worker.executor import Assignment, Executor

__all__ = ["WorkerAgent"]

log = logging.getLogger("xxci.worker")

REMIND_SECONDS = 30.0
"""While the orchestrator cannot be reached, how often the log says so again."""


class WorkerAgent:
    """A long-lived worker connection; see the module docstring for the behaviour.

    ``on_connected(worker_id)`` is called after each Welcome, ``on_registered(worker_id,
    path)`` after registering. The worker's credential lives in ``credential_file``
    (default: ``work_dir/worker-credential``); ``register`` asks for a new one even if
    that file holds one. ``clock`` stamps when jobs start and end, and the clock
    readings sent with Hello and heartbeats. The other keyword-only knobs exist for
    tests and embedding (local mode); their defaults suit a real worker.
    """

    def __init__(
        self,
        target: str,
        token: str | None,
        name: str,
        capacity: int,
        labels: Sequence[str],
        executor: Executor,
        work_dir: Path,
        tls_ca: Path | None = None,
        version: str = xxci.__version__,
        *,
        on_connected: Callable[[str], None] | None = None,
        on_registered: Callable[[str, Path], None] | None = None,
        credential_file: Path | None = None,
        register: bool = False,
        backoff_initial: float = 0.5,
        backoff_max: float = 2.0,
        welcome_timeout: float = 30.0,
        flush_timeout: float = 10.0,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        grace_seconds: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        cache_dir: Path | None = None,
        cache_max_bytes: int = DEFAULT_LOCAL_MAX_BYTES,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if max_log_bytes < 2 * MAX_CHUNK_BYTES:
            raise ValueError(f"max_log_bytes must be at least {2 * MAX_CHUNK_BYTES}")
        self.target = target
        self.name = name
        self.capacity = capacity
        self.labels = tuple(labels)
        self.version = version
        self.worker_id = ""
        self._token = token
        self._tls_ca = tls_ca
        self._executor = executor
        self._work_dir = work_dir
        self._on_connected = on_connected
        self._on_registered = on_registered
        self._credential_file = credential_file or work_dir / CREDENTIAL_FILE
        self._register = register
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._welcome_timeout = welcome_timeout
        self._grace = grace_seconds
        self._clock = clock
        self._outboxes = Outboxes(max_log_bytes)
        self._attempts = Attempts(
            capacity, self._outboxes, self._runner, on_change=lambda: self._stopping.changed()
        )
        self._stopping = Stopping(
            target, self._attempts, self._outboxes, flush_timeout, clock=_loop_time
        )
        self._blobs: GrpcBlobStore | None = None
        # Blobs by digest, shared by the attempts: a run's jobs download its source once.
        self._blob_files: FileCache[str] = FileCache(work_dir / "blobs", keep=8)
        self._caches: GrpcCacheIndex | None = None
        self._copies = LocalCopies(cache_dir or work_dir / "cache", cache_max_bytes)
        self._started = False
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Serve until stopped; reconnects as needed. Raises AuthError when the token
        or the worker's credential is refused (revoked, or meant for another server),
        and TlsError on a TLS mismatch."""
        if self._started:
            raise RuntimeError("WorkerAgent.run() can only be called once")
        self._started = True
        channel: grpc.aio.Channel | None = None
        lock: CredentialLock | None = None
        try:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            lock = CredentialLock.acquire(self._credential_file)
            credential = await self._credential()
            if credential is None:
                return  # stopped before it could register
            self.worker_id = credential.worker_id
            channel = open_channel(self.target, credential.bearer, self._tls_ca)
            self._blobs = GrpcBlobStore(channel, self.target)
            self._caches = GrpcCacheIndex(channel, self.target)
            session = Session(
                channel,
                self.target,
                hello=self._hello,
                welcomed=self._welcomed,
                welcome_timeout=self._welcome_timeout,
                attempts=self._attempts,
                outboxes=self._outboxes,
                stopping=self._stopping,
                clock=self._clock,
                tls=self._tls_ca is not None,
            )
            await self._connection_loop(session)
        finally:
            try:
                # Only left after a fatal error or cancellation.
                await self._attempts.abort()
            finally:
                self._blob_files.clear()
                if channel is not None:
                    await channel.close(None)
                if lock is not None:
                    lock.release()
                self._stopped.set()

    async def _credential(self) -> WorkerCredential | None:
        """The worker's own credential: the one in its work dir, or (if there is none,
        or ``register``) a new one, registered with the shared token and saved there.
        Registration is retried while the orchestrator cannot be reached; None if a
        stop comes first."""
        if not self._register:
            saved = load_credential(self._credential_file)
            if saved is not None:
                return saved
        failures = 0
        told, told_at = "", 0.0  # as when reconnecting: a reason once, then every 30 s
        while not self._stopping.over():
            channel = open_channel(self.target, self._token, self._tls_ca)
            try:
                credential = await registration.register(
                    channel, self.target, self.name, tls=self._tls_ca is not None
                )
            except ConnectionFailed as err:
                failures += 1
                delay = backoff_delay(failures, self._backoff_initial, self._backoff_max)
                now = _loop_time()
                if str(err) != told or now - told_at >= REMIND_SECONDS:
                    log.warning("%s; registering again in %.1fs", err, delay)
                    told, told_at = str(err), now
                else:
                    log.debug("%s; registering again in %.1fs", err, delay)
                await self._pause(delay)
                continue
            finally:
                await channel.close(None)
            save_credential(self._credential_file, credential, self.target)
            log.info("registered with %s as worker %s", self.target, credential.worker_id)
            if self._on_registered is not None:
                self._on_registered(credential.worker_id, self._credential_file)
            return credential
        return None

    def request_stop(self, drain: bool = True) -> None:
        """Start stopping without waiting (safe from a signal handler)."""
        self._stopping.request(drain)

    async def stop(self, drain: bool = True) -> None:
        """Stop (see the module docstring) and wait until :meth:`run` has returned."""
        self.request_stop(drain)
        if self._started:
            await self._stopped.wait()

    async def _connection_loop(self, session: Session) -> None:
        failures = 0
        told, told_at = "", 0.0  # the last reason logged, and when
        while not self._stopping.over():
            try:
                await session.run()
                reason, welcomed = f"{self.target} ended the stream", True
            except Disconnected as err:
                reason, welcomed = err.reason, err.welcomed
            if self._stopping.over():
                return
            failures = 1 if welcomed else failures + 1
            delay = backoff_delay(failures, self._backoff_initial, self._backoff_max)
            now = _loop_time()
            if welcomed or reason != told or now - told_at >= REMIND_SECONDS:
                tries = f" ({failures} tries so far)" if reason == told and failures > 1 else ""
                log.warning("%s%s; reconnecting in %.1fs", reason, tries, delay)
                told, told_at = reason, now
            else:
                log.debug("%s; reconnecting in %.1fs", reason, delay)
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until the worker may stop."""
        deadline = _loop_time() + seconds
        while not self._stopping.over():
            remaining = deadline - _loop_time()
            if remaining <= 0:
                break
            await self._stopping.wait_changed(remaining)

    def _hello(self) -> Hello:
        return Hello(
            name=self.name,
            capacity=self.capacity,
            labels=self.labels,
            version=self.version,
            running=tuple(self._attempts.keys()),
            worker_id=self.worker_id,
        )

    def _welcomed(self, worker_id: str) -> None:
        self.worker_id = worker_id
        if self._on_connected is not None:
            self._on_connected(worker_id)

    def _runner(self, assignment: Assignment, sink: MessageSink) -> AttemptRunner:
        assert self._blobs is not None, "attempts start once run() opened the channel"
        return AttemptRunner(
            assignment,
            sink,
            self._executor,
            self._blobs,
            self._work_dir,
            grace_seconds=self._grace,
            blob_files=self._blob_files,
            clock=self._clock,
            caches=self._caches,
            copies=self._copies,
        )


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
