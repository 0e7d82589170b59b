"""The worker's side of ``WorkerService.Connect``: hold the stream, run what it assigns.

:class:`WorkerAgent` dials out, says Hello, waits for Welcome, heartbeats, and runs
each accepted AssignJob as an :class:`~xxci.worker.attempt.AttemptRunner` task it owns.

Per connection, tasks are raced (see :func:`~xxci.worker.concurrency.race`): a reader
dispatching orchestrator messages, one writer draining the single bounded send queue
into ``call.write``, a feeder moving attempt messages from their outboxes into that
queue, a heartbeat, and a stop watcher. Attempt messages stay in their outboxes (see
:mod:`xxci.worker.outbox`) until the orchestrator acknowledges them. When the stream
breaks, attempts keep running; the next Hello lists them as running, and after the
next Welcome every message not acknowledged yet is sent again, in order. Reconnects
back off exponentially with jitter. A refused token is fatal: :meth:`WorkerAgent.run`
raises :class:`~xxci.common.errors.AuthError`.

Stopping: :meth:`WorkerAgent.stop` ``(drain=True)`` sends Draining, rejects new
work, waits for running attempts and for the orchestrator to acknowledge their
messages (reconnecting for that if need be, for up to ``flush_timeout`` seconds),
then closes the stream; ``drain=False`` first cancels the running attempts. Both are
idempotent, and a hard stop may follow a drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio

import xxci
from xxci.common.attempts import AttemptKey
from xxci.common.auth import open_channel, translate_rpc_error
from xxci.common.convert import attempt_key, attempt_ref
from xxci.common.errors import AuthError
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc
from xxci.worker.attempt import MAX_CHUNK_BYTES, AttemptRunner
from xxci.worker.concurrency import backoff_delay, race
from xxci.worker.convert import AssignmentError, assignment_from_proto
from xxci.worker.executor import Executor
from xxci.worker.outbox import DEFAULT_MAX_LOG_BYTES, Outboxes, Pending

__all__ = ["WorkerAgent"]

log = logging.getLogger("xxci.worker")

SEND_QUEUE_SIZE = 64
DEFAULT_HEARTBEAT_SECONDS = 5.0
CLOSE_GRACE_SECONDS = 2.0


class _Disconnected(Exception):
    """The stream ended or failed in a way worth retrying; ``reason`` says why."""

    def __init__(self, reason: str, welcomed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.welcomed = welcomed


@dataclass(frozen=True)
class _Close:
    """Tells the writer to half-close the stream."""


_Outgoing = worker_pb2.WorkerMessage | Pending | _Close


@dataclass
class _Running:
    runner: AttemptRunner
    task: asyncio.Task[None]


class WorkerAgent:
    """A long-lived worker connection; see the module docstring for the behaviour.

    ``on_connected(worker_id)`` is called after each Welcome. The keyword-only knobs
    exist for tests and embedding (local mode); their defaults suit a real worker.
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
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        welcome_timeout: float = 30.0,
        flush_timeout: float = 10.0,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        grace_seconds: float = 10.0,
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
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._welcome_timeout = welcome_timeout
        self._flush_timeout = flush_timeout
        self._grace = grace_seconds
        self._outboxes = Outboxes(max_log_bytes)
        self._attempts: dict[AttemptKey, _Running] = {}
        self._changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._hard_stop = False
        self._idle_since: float | None = None
        self._started = False
        self._stopped = asyncio.Event()
        self._channel: grpc.aio.Channel | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def run(self) -> None:
        """Serve until stopped; reconnects as needed. Raises AuthError on a bad token."""
        if self._started:
            raise RuntimeError("WorkerAgent.run() can only be called once")
        self._started = True
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self._channel = open_channel(self.target, self._token, self._tls_ca)
        try:
            await self._connection_loop(self._channel)
        finally:
            try:
                await self._abort_attempts()
            finally:
                await self._channel.close(None)
                self._stopped.set()

    def request_stop(self, drain: bool = True) -> None:
        """Start stopping without waiting (safe from a signal handler)."""
        self._stop_requested.set()
        if not drain and not self._hard_stop:
            self._hard_stop = True
            for running in self._attempts.values():
                running.runner.cancel()
        self._changed.set()

    async def stop(self, drain: bool = True) -> None:
        """Stop (see the module docstring) and wait until :meth:`run` has returned."""
        self.request_stop(drain)
        if self._started:
            await self._stopped.wait()

    async def _abort_attempts(self) -> None:
        """Cancel whatever still runs (only left after a fatal error or cancellation)."""
        running = list(self._attempts.values())
        for item in running:
            item.runner.cancel()
            item.task.cancel()
        await asyncio.gather(*(item.task for item in running), return_exceptions=True)

    def _finished(self) -> bool:
        if not self._stop_requested.is_set() or self._attempts:
            return False
        if self._outboxes.delivered():
            return True
        now = asyncio.get_running_loop().time()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since >= self._flush_timeout:
            log.warning("giving up on results %s did not acknowledge", self.target)
            return True
        return False

    async def _wait_changed(self, seconds: float | None = None) -> None:
        """Wait until something changed (an attempt ended, a stop), at most ``seconds``."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()

    # -- connection loop ---------------------------------------------------------

    async def _connection_loop(self, channel: grpc.aio.Channel) -> None:
        failures = 0
        while not self._finished():
            try:
                await self._session(channel)
                reason, welcomed = f"{self.target} ended the stream", True
            except _Disconnected as err:
                reason, welcomed = err.reason, err.welcomed
            if self._finished():
                return
            failures = 1 if welcomed else failures + 1
            delay = backoff_delay(failures, self._backoff_initial, self._backoff_max)
            log.warning("%s; reconnecting in %.1fs", reason, delay)
            deadline = asyncio.get_running_loop().time() + delay
            while not self._finished():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                await self._wait_changed(remaining)

    async def _session(self, channel: grpc.aio.Channel) -> None:
        """One stream, until it breaks (_Disconnected) or ends (returns)."""
        call = worker_pb2_grpc.WorkerServiceStub(channel).Connect(None)
        welcomed = False
        try:
            await call.write(self._hello())
            welcome = await self._read_welcome(call)
            welcomed = True
            self.worker_id = welcome.worker_id
            interval = welcome.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
            log.info(
                "connected to %s as %s (heartbeat %.1fs, lease %.1fs)",
                self.target,
                self.worker_id,
                interval,
                welcome.lease_ttl_seconds,
            )
            if self._on_connected is not None:
                self._on_connected(self.worker_id)
            send_q: asyncio.Queue[_Outgoing] = asyncio.Queue(maxsize=SEND_QUEUE_SIZE)
            self._outboxes.set_online(True)
            await race(
                self._read_loop(call, send_q),
                self._write_loop(call, send_q),
                self._feed_loop(send_q),
                self._heartbeat_loop(send_q, interval),
                self._stop_watch(send_q),
            )
        except grpc.aio.AioRpcError as err:
            raise self._rpc_failure(err, welcomed) from err
        except asyncio.InvalidStateError as err:
            failure = await self._status_error(call)
            if failure is not None:
                raise self._rpc_failure(failure, welcomed) from err
            raise _Disconnected(f"{self.target} closed the stream", welcomed) from err
        except _Disconnected as err:
            err.welcomed = welcomed
            raise
        finally:
            self._outboxes.set_online(False)
            call.cancel()

    def _rpc_failure(self, err: grpc.aio.AioRpcError, welcomed: bool) -> Exception:
        translated = translate_rpc_error(err, self.target)
        if isinstance(translated, AuthError):
            return translated
        verb = "lost the connection to" if welcomed else "cannot connect to"
        return _Disconnected(f"{verb} {self.target}: {err.details() or err.code().name}", welcomed)

    @staticmethod
    async def _status_error(
        call: grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
    ) -> grpc.aio.AioRpcError | None:
        """The call's final status as an error (None if it ended OK)."""
        code = await call.code()
        if code == grpc.StatusCode.OK:
            return None
        return grpc.aio.AioRpcError(
            code, grpc.aio.Metadata(), grpc.aio.Metadata(), await call.details(), None
        )

    def _hello(self) -> worker_pb2.WorkerMessage:
        hello = worker_pb2.Hello(
            name=self.name,
            capacity=self.capacity,
            labels=self.labels,
            version=self.version,
            running=[attempt_ref(key) for key in self._running_keys()],
            worker_id=self.worker_id,
        )
        return worker_pb2.WorkerMessage(hello=hello)

    def _running_keys(self) -> list[AttemptKey]:
        """Attempts still running, or whose JobFinished was not written yet."""
        return sorted(set(self._attempts) | set(self._outboxes.unfinished()))

    async def _read_welcome(
        self,
        call: grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
    ) -> worker_pb2.Welcome:
        try:
            async with asyncio.timeout(self._welcome_timeout):
                msg = await call.read()
        except TimeoutError:
            raise _Disconnected(f"no Welcome from {self.target} in time") from None
        if not isinstance(msg, worker_pb2.OrchestratorMessage):
            raise _Disconnected(f"{self.target} closed the stream before Welcome")
        if msg.WhichOneof("kind") != "welcome":
            raise _Disconnected(f"{self.target} answered Hello with {msg.WhichOneof('kind')}")
        return msg.welcome

    # -- per-connection tasks ----------------------------------------------------

    async def _read_loop(
        self,
        call: grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
        send_q: asyncio.Queue[_Outgoing],
    ) -> None:
        while True:
            msg = await call.read()
            if not isinstance(msg, worker_pb2.OrchestratorMessage):  # EOF
                if self._stop_requested.is_set():
                    return
                raise _Disconnected(f"{self.target} closed the stream")
            kind = msg.WhichOneof("kind")
            if kind == "assign":
                await self._on_assign(msg.assign, send_q)
            elif kind == "cancel":
                self._on_cancel(msg.cancel)
            elif kind == "ack":
                self._outboxes.acked(attempt_key(msg.ack.ref), msg.ack.through)
            else:
                log.debug("ignoring %s from %s", kind, self.target)

    async def _write_loop(
        self,
        call: grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage],
        send_q: asyncio.Queue[_Outgoing],
    ) -> None:
        """The only task writing to the stream."""
        while True:
            item = await send_q.get()
            try:
                if isinstance(item, _Close):
                    await call.done_writing()
                    # The reader normally sees the orchestrator end the stream first.
                    await asyncio.sleep(CLOSE_GRACE_SECONDS)
                    return
                if isinstance(item, Pending):
                    await call.write(item.message)
                    self._outboxes.written(item)
                else:
                    await call.write(item)
            finally:
                send_q.task_done()

    async def _feed_loop(self, send_q: asyncio.Queue[_Outgoing]) -> None:
        while True:
            await send_q.put(await self._outboxes.next())

    async def _heartbeat_loop(self, send_q: asyncio.Queue[_Outgoing], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            running = [attempt_ref(key) for key in self._running_keys()]
            await send_q.put(
                worker_pb2.WorkerMessage(heartbeat=worker_pb2.Heartbeat(running=running))
            )

    async def _stop_watch(self, send_q: asyncio.Queue[_Outgoing]) -> None:
        """Once a stop is requested: Draining, wait for attempts and acks, close."""
        await self._stop_requested.wait()
        await send_q.put(worker_pb2.WorkerMessage(draining=worker_pb2.Draining()))
        while self._attempts:
            await self._wait_changed()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._flush_timeout):
                await self._outboxes.wait_delivered()
        await send_q.put(_Close())
        await asyncio.Event().wait()  # the writer or the reader ends the session

    # -- orchestrator messages ---------------------------------------------------

    async def _on_assign(self, msg: worker_pb2.AssignJob, send_q: asyncio.Queue[_Outgoing]) -> None:
        key = attempt_key(msg.ref)
        if key in self._attempts:  # sent again (e.g. after a reconnect): still ours
            await send_q.put(worker_pb2.WorkerMessage(accept=worker_pb2.Accept(ref=msg.ref)))
            return
        if key in self._outboxes:  # finished here; its JobFinished is on its way
            log.info("ignoring a repeated assignment of finished attempt %s", key)
            return
        reason = ""
        if self._stop_requested.is_set():
            reason = "worker is draining"
        elif len(self._attempts) >= self.capacity:
            reason = f"worker is at capacity ({len(self._attempts)} of {self.capacity} busy)"
        if not reason:
            try:
                assignment = assignment_from_proto(msg)
            except AssignmentError as err:
                reason = str(err)
        if reason:
            log.info("rejecting %s: %s", key, reason)
            reject = worker_pb2.Reject(ref=msg.ref, reason=reason)
            await send_q.put(worker_pb2.WorkerMessage(reject=reject))
            return
        outbox = self._outboxes.open(key)
        await outbox.put(worker_pb2.WorkerMessage(accept=worker_pb2.Accept(ref=msg.ref)))
        assert self._channel is not None
        runner = AttemptRunner(
            key,
            assignment,
            msg.source_blob,
            tuple(msg.artifact_blobs),
            outbox,
            self._executor,
            self._channel,
            self.target,
            self._work_dir,
            grace_seconds=self._grace,
        )
        task = asyncio.create_task(runner.run(), name=f"attempt {key}")
        self._attempts[key] = _Running(runner, task)
        task.add_done_callback(lambda t: self._attempt_done(key, t))
        log.info("accepted %s (%s)", key, assignment.image)

    def _attempt_done(self, key: AttemptKey, task: asyncio.Task[None]) -> None:
        running = self._attempts.get(key)
        if running is not None and running.task is task:
            del self._attempts[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("attempt %s crashed: %r", key, error)
        self._changed.set()

    def _on_cancel(self, msg: worker_pb2.CancelJob) -> None:
        key = attempt_key(msg.ref)
        running = self._attempts.get(key)
        if running is None:
            log.debug("cancel for %s, which is not running here", key)
            return
        log.info("canceling %s: %s", key, msg.reason or "requested")
        running.runner.cancel(msg.grace_seconds or None)
