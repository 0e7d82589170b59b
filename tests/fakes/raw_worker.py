"""A worker stream the test writes by hand: a scripted worker, or a rogue one.

:class:`RawWorker` speaks the worker protocol message by message over a real gRPC
channel, so a test can say exactly what an honest worker never would (output for
someone else's attempt, a report of a job it was never given, another worker's id).
It registers like a worker does and connects with its own credential, unless the
test hands it another bearer to present.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio

from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc

__all__ = ["RawStream", "RawWorker", "ref"]

RawStream = grpc.aio.StreamStreamCall[worker_pb2.WorkerMessage, worker_pb2.OrchestratorMessage]


def ref(run_id: str, job: str, attempt: int = 1) -> worker_pb2.AttemptRef:
    return worker_pb2.AttemptRef(run_id=run_id, job=job, attempt=attempt)


class RawWorker:
    """One hand-driven stream to the orchestrator at ``address``.

    ``async with RawWorker(address, name) as w``; then :meth:`connect` says Hello and
    returns the id the Welcome gives, :meth:`send` writes any message, :meth:`expect`
    reads the next one and checks its kind.
    """

    def __init__(
        self, address: str, name: str, *, capacity: int = 1, token: str | None = None
    ) -> None:
        self.address = address
        self.name = name
        self.capacity = capacity
        self.token = token
        self.worker_id = ""
        self.credential = ""
        """The bearer this worker registered for ("" until :meth:`register`)."""
        self._channel: grpc.aio.Channel | None = None
        self._stream: RawStream | None = None

    async def __aenter__(self) -> Self:
        self._channel = grpc.aio.insecure_channel(self.address)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.cancel()
        if self._channel is not None:
            await self._channel.close(None)

    @property
    def stream(self) -> RawStream:
        assert self._stream is not None, "connect() first"
        return self._stream

    async def register(self) -> str:
        """Register (with the shared token, if any); returns the credential's bearer."""
        assert self._channel is not None, "use RawWorker as an async context manager"
        stub = worker_pb2_grpc.WorkerServiceStub(self._channel)
        reply = await stub.Register(
            worker_pb2.RegisterRequest(name=self.name), metadata=self._bearer(self.token)
        )
        self.credential = reply.credential
        return self.credential

    async def connect(
        self, worker_id: str = "", *running: worker_pb2.AttemptRef, bearer: str | None = None
    ) -> str:
        """Say Hello naming ``worker_id`` and read the Welcome; returns the id it gives.
        The stream presents ``bearer`` if given, else this worker's own credential
        (registering first if need be)."""
        await self.hello(worker_id, *running, bearer=bearer)
        self.worker_id = (await self.expect("welcome")).welcome.worker_id
        return self.worker_id

    async def hello(
        self, worker_id: str = "", *running: worker_pb2.AttemptRef, bearer: str | None = None
    ) -> None:
        """Open a stream presenting ``bearer`` (see :meth:`connect`) and say Hello."""
        assert self._channel is not None, "use RawWorker as an async context manager"
        if bearer is None:
            bearer = self.credential or await self.register()
        self._stream = worker_pb2_grpc.WorkerServiceStub(self._channel).Connect(
            None, metadata=self._bearer(bearer)
        )
        hello = worker_pb2.Hello(
            name=self.name, capacity=self.capacity, worker_id=worker_id, running=list(running)
        )
        await self.send(hello=hello)

    async def refused(self) -> tuple[grpc.StatusCode, str]:
        """The status the orchestrator ended the stream with (after a refused Hello)."""
        try:
            message = await self.receive()
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
        assert message is None, message
        return await self.stream.code(), await self.stream.details()

    @staticmethod
    def _bearer(token: str | None) -> grpc.aio.Metadata | None:
        return grpc.aio.Metadata(("authorization", f"Bearer {token}")) if token else None

    async def send(self, seq: int = 0, **kind: Any) -> None:
        """Write one ``WorkerMessage`` (``kind`` is its one field, e.g. ``log_chunk=``)."""
        await self.stream.write(worker_pb2.WorkerMessage(seq=seq, **kind))

    async def receive(self) -> worker_pb2.OrchestratorMessage | None:
        """The next message from the orchestrator; None once it has ended the stream."""
        message = await self.stream.read()
        return message if isinstance(message, worker_pb2.OrchestratorMessage) else None

    async def expect(self, kind: str) -> worker_pb2.OrchestratorMessage:
        """The next message that is not an Ack, which must be of ``kind``."""
        while True:
            message = await self.receive()
            if message is not None and message.WhichOneof("kind") == "ack" and kind != "ack":
                continue
            assert message is not None and message.WhichOneof("kind") == kind, message
            return message
