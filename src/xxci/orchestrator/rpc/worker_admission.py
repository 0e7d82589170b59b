"""Worker identities on the wire: registering, and admitting a stream as one worker.

The decisions are :class:`~xxci.orchestrator.runtime.identities.Identities`'s; this
module reads the bearer and the peer from the call and turns a refusal into its gRPC
status: UNAUTHENTICATED when the caller proved no valid identity, PERMISSION_DENIED
when it proved to be another worker than the one it claimed.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio

from xxci.common.auth import token_from_metadata
from xxci.common.errors import UsageError
from xxci.common.pb.v1 import worker_pb2
from xxci.orchestrator.domain.identity import Refused
from xxci.orchestrator.domain.messages import Hello
from xxci.orchestrator.runtime.identities import Identities

__all__ = ["admitted", "register"]

Context = grpc.aio.ServicerContext[Any, Any]


async def admitted(identities: Identities, hello: Hello, context: Context) -> str:
    """The id of the worker the stream proved to be; aborts the call otherwise."""
    presented = token_from_metadata(context.invocation_metadata())
    verdict = await identities.admit(
        presented, hello.worker_id, name=hello.name, peer=context.peer()
    )
    if isinstance(verdict, Refused):
        code = grpc.StatusCode.PERMISSION_DENIED
        if not verdict.other_worker:
            code = grpc.StatusCode.UNAUTHENTICATED
        await context.abort(code, verdict.message)
        raise AssertionError("unreachable: abort raises")
    return verdict.worker_id


async def register(
    identities: Identities, request: worker_pb2.RegisterRequest, context: Context
) -> worker_pb2.RegisterResponse:
    """A new identity for the worker asking; INVALID_ARGUMENT for a name that is none."""
    try:
        credential = await identities.register(request.name, context.peer())
    except UsageError as err:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        raise AssertionError("unreachable: abort raises") from err
    return worker_pb2.RegisterResponse(worker_id=credential.worker_id, credential=credential.bearer)
