"""A worker stream the test writes by hand: a scripted worker, or a rogue one.

:class:`RawWorker` speaks the worker protocol message by message over a real gRPC
channel, so a test can say exactly what an honest worker never would (output for
someone else's attempt, a report of a job it was never given).
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

    def __init__(self, address: str, name: str, *, capacity: int = 1) -> None:
        self.address = address
        self.name = name
        self.capacity = capacity
        self.worker_id = ""
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

    async def connect(self, worker_id: str = "", *running: worker_pb2.AttemptRef) -> str:
        assert self._channel is not None, "use RawWorker as an async context manager"
        self._stream = worker_pb2_grpc.WorkerServiceStub(self._channel).Connect(None)
        hello = worker_pb2.Hello(
            name=self.name, capacity=self.capacity, worker_id=worker_id, running=list(running)
        )
        await self.send(hello=hello)
        self.worker_id = (await self.expect("welcome")).welcome.worker_id
        return self.worker_id

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
