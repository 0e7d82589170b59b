"""A tiny scripted orchestrator for worker tests: a real ``grpc.aio`` server on port 0.

:class:`FakeWorkerService` registers workers (each gets ``worker_id`` and a fresh
secret; ``refuse`` makes the stream refuse them with that status and text), records
every ``WorkerMessage`` (with the number of the connection it came on) and the bearer
each connection presented, acknowledges each attempt message as it arrives (unless told
not to: ``acking = False``), and lets the test push ``OrchestratorMessage``s to the
current connection. :class:`FakeBlobService` keeps blobs in memory. :class:`FakeServer` runs
both, and can be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from xxci.common.auth import AccessInterceptor, token_from_metadata
from xxci.common.credentials import WorkerCredential
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc, worker_pb2, worker_pb2_grpc


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def eventually(predicate: Callable[[], Any], within: float = 5.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``within`` s."""
    try:
        async with asyncio.timeout(within):
            # Polling on purpose: the conditions span several objects and tasks.
            while not (value := predicate()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return value
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


@dataclass
class Connection:
    number: int
    hello: worker_pb2.Hello
    bearer: str | None = None
    outgoing: asyncio.Queue[worker_pb2.OrchestratorMessage | None] = field(
        default_factory=asyncio.Queue
    )
    closed: bool = False


class FakeWorkerService(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(
        self,
        heartbeat: float = 0.2,
        lease: float = 5.0,
        worker_id: str = "w-1",
        acking: bool = True,
    ) -> None:
        self.heartbeat = heartbeat
        self.lease = lease
        self.worker_id = worker_id
        self.acking = acking
        self.connections: list[Connection] = []
        self.received: list[tuple[int, worker_pb2.WorkerMessage]] = []
        self.registered: list[tuple[str, WorkerCredential]] = []
        """(name, credential) of each registration, in order."""
        self.refuse: tuple[grpc.StatusCode, str] | None = None

    # -- what the test looks at --------------------------------------------------

    @property
    def current(self) -> Connection | None:
        live = [c for c in self.connections if not c.closed]
        return live[-1] if live else None

    def of_kind(self, kind: str, connection: int | None = None) -> list[Any]:
        return [
            getattr(m, kind)
            for n, m in self.received
            if m.WhichOneof("kind") == kind and (connection is None or n == connection)
        ]

    def for_job(self, job: str, connection: int | None = None) -> list[tuple[str, Any]]:
        """(kind, payload) of every message about ``job``, in arrival order."""
        out: list[tuple[str, Any]] = []
        for n, m in self.received:
            kind = m.WhichOneof("kind") or ""
            payload = getattr(m, kind)
            ref = getattr(payload, "ref", None)
            if ref is not None and ref.job == job and (connection is None or n == connection):
                out.append((kind, payload))
        return out

    def numbered(self, job: str, connection: int | None = None) -> list[worker_pb2.WorkerMessage]:
        """The attempt messages (those with a ``seq``) about ``job``, in arrival order."""
        return [
            m
            for n, m in self.received
            if m.seq and _ref(m).job == job and (connection is None or n == connection)
        ]

    async def send(self, msg: worker_pb2.OrchestratorMessage) -> None:
        conn = await eventually(lambda: self.current, what="a connected worker")
        await conn.outgoing.put(msg)

    async def ack(self, ref: worker_pb2.AttemptRef, through: int) -> None:
        """Acknowledge the attempt's messages up to ``through`` on the current connection."""
        ack = worker_pb2.Ack(ref=ref, through=through)
        await self.send(worker_pb2.OrchestratorMessage(ack=ack))

    # -- the service -------------------------------------------------------------

    async def Register(
        self, request: worker_pb2.RegisterRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> worker_pb2.RegisterResponse:
        credential = WorkerCredential.issue(self.worker_id)
        self.registered.append((request.name, credential))
        return worker_pb2.RegisterResponse(
            worker_id=credential.worker_id, credential=credential.bearer
        )

    def vouch(self, presented: str) -> str | None:
        """The worker a bearer is the credential of, if this service issued it."""
        for _, credential in self.registered:
            if credential.bearer == presented:
                return credential.worker_id
        return None

    async def Connect(
        self,
        request_iterator: AsyncIterator[worker_pb2.WorkerMessage],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[worker_pb2.OrchestratorMessage]:
        first = await anext(request_iterator)
        number = len(self.connections) + 1
        self.received.append((number, first))
        assert first.WhichOneof("kind") == "hello", first
        conn = Connection(number, first.hello, token_from_metadata(context.invocation_metadata()))
        self.connections.append(conn)
        if self.refuse is not None:
            conn.closed = True
            await context.abort(*self.refuse)
        reader = asyncio.create_task(self._read(conn, request_iterator))
        try:
            yield worker_pb2.OrchestratorMessage(
                welcome=worker_pb2.Welcome(
                    worker_id=first.hello.worker_id or self.worker_id,
                    heartbeat_interval_seconds=self.heartbeat,
                    lease_ttl_seconds=self.lease,
                )
            )
            while True:
                getter = asyncio.create_task(conn.outgoing.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    await asyncio.gather(getter, return_exceptions=True)
                    return  # the worker half-closed (or the stream broke)
                msg = getter.result()
                if msg is None:
                    return
                yield msg
        finally:
            conn.closed = True
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(
        self, conn: Connection, requests: AsyncIterator[worker_pb2.WorkerMessage]
    ) -> None:
        async for msg in requests:
            self.received.append((conn.number, msg))
            if self.acking and msg.seq:
                ack = worker_pb2.Ack(ref=_ref(msg), through=msg.seq)
                await conn.outgoing.put(worker_pb2.OrchestratorMessage(ack=ack))


def _ref(msg: worker_pb2.WorkerMessage) -> worker_pb2.AttemptRef:
    """The attempt an attempt message (one with a ``seq``) is about."""
    ref: worker_pb2.AttemptRef = getattr(msg, msg.WhichOneof("kind") or "").ref
    return ref


class FakeBlobService(blob_pb2_grpc.BlobServiceServicer):
    def __init__(self, chunk: int = 1000) -> None:
        self.blobs: dict[str, bytes] = {}
        self.uploads = 0
        self.chunk = chunk
        self.corrupt: set[str] = set()  # digests served with wrong bytes

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    async def Upload(
        self,
        request_iterator: AsyncIterator[blob_pb2.BlobChunk],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> blob_pb2.BlobRef:
        self.uploads += 1
        expected = ""
        data = bytearray()
        async for chunk in request_iterator:
            expected = expected or chunk.expected_digest
            data += chunk.data
        digest = digest_of(bytes(data))
        if expected and expected != digest:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"expected {expected}")
        self.blobs[digest] = bytes(data)
        return blob_pb2.BlobRef(digest=digest, size=len(data))

    async def Download(
        self, request: blob_pb2.BlobRef, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[blob_pb2.BlobChunk]:
        data = self.blobs.get(request.digest)
        if data is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
            return
        if request.digest in self.corrupt:
            data = data[:-1] + b"!"
        for start in range(0, max(len(data), 1), self.chunk):
            yield blob_pb2.BlobChunk(data=data[start : start + self.chunk])

    async def Stat(
        self, request: blob_pb2.BlobRef, context: grpc.aio.ServicerContext[Any, Any]
    ) -> blob_pb2.BlobStat:
        data = self.blobs.get(request.digest)
        return blob_pb2.BlobStat(exists=data is not None, size=len(data or b""))


class FakeServer:
    """Both fake services on 127.0.0.1; ``port`` is fixed after the first start."""

    def __init__(
        self,
        workers: FakeWorkerService | None = None,
        blobs: FakeBlobService | None = None,
        token: str | None = None,
    ) -> None:
        self.workers = workers or FakeWorkerService()
        self.blobs = blobs or FakeBlobService()
        self.token = token
        self.port = 0
        self._server: grpc.aio.Server | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        async def vouch(presented: str) -> str | None:
            return self.workers.vouch(presented)

        interceptors = [AccessInterceptor(self.token, vouch)] if self.token else []
        server = grpc.aio.server(interceptors=interceptors)
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(self.workers, server)
        blob_pb2_grpc.add_BlobServiceServicer_to_server(self.blobs, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
