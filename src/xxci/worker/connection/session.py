"""One ``Connect`` stream, from Hello to its end.

A :class:`Session` says Hello, waits for Welcome, then races its tasks (see
:func:`~xxci.worker.connection.concurrency.race`): a reader handing the
orchestrator's commands to the attempts and the outboxes, one writer draining the
single bounded send queue into ``call.write``, a feeder moving attempt messages from
their outboxes into that queue, a heartbeat, and a stop watcher. The stream and its
messages are the only protobuf here; :mod:`xxci.worker.connection.wire` converts
them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import grpc
import grpc.aio

from xxci.common.auth import connection_reason
from xxci.common.clock import SYSTEM_CLOCK, Clock
from xxci.common.errors import AuthError, TlsError
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc
from xxci.common.tls_probe import explain
from xxci.worker.connection import wire
from xxci.worker.connection.attempts import AcceptAgain, Attempts, Refuse
from xxci.worker.connection.concurrency import race
from xxci.worker.connection.outbox import Outboxes, Pending
from xxci.worker.connection.protocol import Ack, Assign, Cancel, Hello, Welcome
from xxci.worker.connection.stopping import Stopping

__all__ = ["Disconnected", "Session"]

log = logging.getLogger("xxci.worker")

SEND_QUEUE_SIZE = 64
DEFAULT_HEARTBEAT_SECONDS = 5.0
CLOSE_GRACE_SECONDS = 2.0

_Call = grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage]


class Disconnected(Exception):
    """The stream ended or failed in a way worth retrying; ``reason`` says why."""

    def __init__(self, reason: str, welcomed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.welcomed = welcomed


@dataclass(frozen=True)
class _Close:
    """Tells the writer to half-close the stream."""


_Outgoing = worker_pb2.WorkerMessage | Pending | _Close


class Session:
    """One stream to ``target``; :meth:`run` returns when it ends and raises
    :class:`Disconnected` when it breaks (or :class:`AuthError` for a refused token,
    :class:`TlsError` when one end speaks TLS and the other not: ``tls`` says whether
    the channel does).

    ``hello()`` says what the Hello opening the stream says; ``welcomed(worker_id)``
    is told the id the orchestrator's Welcome gives. Hello and heartbeats carry
    ``clock``'s wall time, so the orchestrator learns how far it is off.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        target: str,
        *,
        hello: Callable[[], Hello],
        welcomed: Callable[[str], None],
        welcome_timeout: float,
        attempts: Attempts,
        outboxes: Outboxes,
        stopping: Stopping,
        clock: Clock = SYSTEM_CLOCK,
        tls: bool = False,
    ) -> None:
        self._channel = channel
        self._clock = clock
        self._tls = tls
        self._target = target
        self._hello = hello
        self._welcomed = welcomed
        self._welcome_timeout = welcome_timeout
        self._attempts = attempts
        self._outboxes = outboxes
        self._stopping = stopping

    async def run(self) -> None:
        call = worker_pb2_grpc.WorkerServiceStub(self._channel).Connect(None)
        welcomed = False
        try:
            await call.write(wire.hello(replace(self._hello(), sent_at=self._clock.now())))
            welcome = await self._read_welcome(call)
            welcomed = True
            interval = welcome.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
            log.info(
                "connected to %s as %s (heartbeat %.1fs, lease %.1fs)",
                self._target,
                welcome.worker_id,
                interval,
                welcome.lease_ttl_seconds,
            )
            self._welcomed(welcome.worker_id)
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
            raise await self._rpc_failure(err, welcomed) from err
        except asyncio.InvalidStateError as err:
            failure = await self._status_error(call)
            if failure is not None:
                raise await self._rpc_failure(failure, welcomed) from err
            raise Disconnected(f"{self._target} closed the stream", welcomed) from err
        except Disconnected as err:
            err.welcomed = welcomed
            raise
        finally:
            self._outboxes.set_online(False)
            call.cancel()

    async def _rpc_failure(self, err: grpc.aio.AioRpcError, welcomed: bool) -> Exception:
        """A refused credential or a TLS mismatch, which retrying cannot fix, as they
        are; anything else as Disconnected, with grpc's reason made short."""
        translated = await explain(err, self._target, tls=self._tls)
        if isinstance(translated, TlsError):
            return translated
        if isinstance(translated, AuthError):
            # The stream authenticates the worker's own credential, not a token.
            refused = err.details() or err.code().name.lower()
            return AuthError(f"the orchestrator at {self._target} refused this worker: {refused}")
        verb = "lost the connection to" if welcomed else "cannot connect to"
        why = connection_reason(err.details() or "") or err.code().name.lower()
        return Disconnected(f"{verb} {self._target}: {why}", welcomed)

    @staticmethod
    async def _status_error(call: _Call) -> grpc.aio.AioRpcError | None:
        """The call's final status as an error (None if it ended OK)."""
        code = await call.code()
        if code == grpc.StatusCode.OK:
            return None
        return grpc.aio.AioRpcError(
            code, grpc.aio.Metadata(), grpc.aio.Metadata(), await call.details(), None
        )

    async def _read_welcome(self, call: _Call) -> Welcome:
        try:
            async with asyncio.timeout(self._welcome_timeout):
                msg = await call.read()
        except TimeoutError:
            raise Disconnected(f"no Welcome from {self._target} in time") from None
        if not isinstance(msg, worker_pb2.OrchestratorMessage):
            raise Disconnected(f"{self._target} closed the stream before Welcome")
        welcome = wire.command(msg)
        if not isinstance(welcome, Welcome):
            kind = msg.WhichOneof("kind")
            raise Disconnected(f"{self._target} answered Hello with {kind}")
        return welcome

    # -- the session's tasks -------------------------------------------------------

    async def _read_loop(self, call: _Call, send_q: asyncio.Queue[_Outgoing]) -> None:
        while True:
            msg = await call.read()
            if not isinstance(msg, worker_pb2.OrchestratorMessage):  # EOF
                if self._stopping.requested.is_set():
                    return
                raise Disconnected(f"{self._target} closed the stream")
            command = wire.command(msg)
            if isinstance(command, Assign):
                await self._on_assign(command, send_q)
            elif isinstance(command, Cancel):
                self._attempts.cancel(
                    command.key, command.grace_seconds, command.reason, revoke=command.revoke
                )
            elif isinstance(command, Ack):
                self._outboxes.acked(command.key, command.through)
            else:
                log.debug("ignoring %s from %s", msg.WhichOneof("kind"), self._target)

    async def _on_assign(self, command: Assign, send_q: asyncio.Queue[_Outgoing]) -> None:
        draining = self._stopping.requested.is_set()
        answer = await self._attempts.offer(command.key, command.assignment, draining=draining)
        if isinstance(answer, AcceptAgain):
            await send_q.put(wire.accept(command.key))
        elif isinstance(answer, Refuse):
            await send_q.put(wire.reject(command.key, answer.reason))

    async def _write_loop(self, call: _Call, send_q: asyncio.Queue[_Outgoing]) -> None:
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
                    await call.write(wire.attempt_message(item.key, item.seq, item.message))
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
            await send_q.put(wire.heartbeat(self._attempts.keys(), self._clock.now()))

    async def _stop_watch(self, send_q: asyncio.Queue[_Outgoing]) -> None:
        """Once a stop is requested: Draining, wait for attempts and acks, close."""
        await self._stopping.requested.wait()
        await send_q.put(wire.draining())
        await self._stopping.drained()
        await send_q.put(_Close())
        await asyncio.Event().wait()  # the writer or the reader ends the session
