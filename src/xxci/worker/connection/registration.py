"""A worker asks the orchestrator for its own credential (``WorkerService.Register``).

Called with the shared token, once: the credential that comes back authenticates the
worker from then on (see :mod:`xxci.common.credentials`). A refused token is an
:class:`~xxci.common.errors.AuthError` and a TLS mismatch a
:class:`~xxci.common.errors.TlsError`; an orchestrator that cannot be reached is a
:class:`~xxci.common.errors.ConnectionFailed` worth retrying.
"""

from __future__ import annotations

import grpc
import grpc.aio

from xxci.common.credentials import WorkerCredential
from xxci.common.errors import XxciError
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc
from xxci.common.tls_probe import explain

__all__ = ["register"]

REGISTER_TIMEOUT_SECONDS = 30.0


async def register(
    channel: grpc.aio.Channel, target: str, name: str, *, tls: bool
) -> WorkerCredential:
    """Register as ``name`` with the orchestrator at ``target`` over ``channel`` (which
    carries the shared token; ``tls``: whether it is a TLS channel). A TLS mismatch is
    a :class:`~xxci.common.errors.TlsError`, fatal like a refused token."""
    stub = worker_pb2_grpc.WorkerServiceStub(channel)
    try:
        reply = await stub.Register(
            worker_pb2.RegisterRequest(name=name), timeout=REGISTER_TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError as err:
        raise await explain(err, target, tls=tls) from err
    credential = WorkerCredential.parse(reply.credential)
    if credential is None or credential.worker_id != reply.worker_id:
        raise XxciError(
            f"the orchestrator at {target} answered the registration without a credential"
        )
    return credential
