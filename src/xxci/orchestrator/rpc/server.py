"""The orchestrator's gRPC server: the services of one :class:`Orchestrator` on one port."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from xxci.common.auth import AccessInterceptor
from xxci.common.errors import UsageError
from xxci.common.pb.v1 import (
    blob_pb2_grpc,
    cache_pb2_grpc,
    pipeline_pb2_grpc,
    secret_pb2_grpc,
    worker_pb2_grpc,
)
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.rpc.blob_service import BlobServicer
from xxci.orchestrator.rpc.cache_service import CacheServicer
from xxci.orchestrator.rpc.pipeline_service import PipelineServicer
from xxci.orchestrator.rpc.secret_service import SecretServicer
from xxci.orchestrator.rpc.worker_service import WorkerServicer
from xxci.orchestrator.runtime.orchestrator import Orchestrator

log = logging.getLogger("xxci.orchestrator")

MAX_MESSAGE = 8 * 1024 * 1024
GRPC_OPTIONS = [
    # A second server on a port that is taken must fail, not share it silently.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    # Keep idle worker streams alive through NATs and proxies.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


class OrchestratorServer:
    """An :class:`Orchestrator` served over gRPC. ``port`` is known after ``start``,
    which also publishes the address in the data directory (with the token, for a local
    orchestrator) for other processes that find the directory taken."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        listen: str = "127.0.0.1:0",
        *,
        token: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.orchestrator = orchestrator
        self.listen = listen
        self._token = token
        self._tls = (tls_cert, tls_key)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        host = self.listen.rsplit(":", 1)[0]
        if host in ("0.0.0.0", "[::]", ""):
            host = "127.0.0.1"
        return f"{host}:{self.port}"

    async def start(self) -> None:
        await self.orchestrator.start()
        o = self.orchestrator
        access = AccessInterceptor(self._token, o.identities.vouch)
        interceptors = [access] if self._token else []
        server = grpc.aio.server(interceptors=interceptors, options=GRPC_OPTIONS)
        api = OrchestratorService(o)
        pipeline_pb2_grpc.add_PipelineServiceServicer_to_server(PipelineServicer(api), server)
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(
            WorkerServicer(o.runs, o.hub, o.identities, o.logs, o.blobs, o.clock), server
        )
        blob_pb2_grpc.add_BlobServiceServicer_to_server(
            BlobServicer(o.blobs, o.limits.upload_bytes, o.caches.blobs), server
        )
        cache_pb2_grpc.add_CacheServiceServicer_to_server(CacheServicer(o.caches, api), server)
        secret_pb2_grpc.add_SecretServiceServicer_to_server(SecretServicer(api), server)
        cert, key = self._tls
        try:
            if cert and key:
                creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
                self.port = server.add_secure_port(self.listen, creds)
            else:
                self.port = server.add_insecure_port(self.listen)
        except RuntimeError as err:
            await self.orchestrator.stop()
            raise UsageError(
                f"cannot listen on {self.listen}: the address is in use or not valid here"
            ) from err
        await server.start()
        self._server = server
        o.publish(self.address, self._token or "")
        log.info("orchestrator listening on %s (data in %s)", self.address, o.store_where)

    async def stop(self, grace: float = 2.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self.orchestrator.stop()

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
