"""``SecretService``: set, list and remove secrets. No call here returns a value."""

from __future__ import annotations

from typing import Any

import grpc

from xxci.common.clock import Clock
from xxci.common.pb.v1 import secret_pb2, secret_pb2_grpc
from xxci.common.spec.secrets import SECRET_NAME
from xxci.orchestrator.store._sqlite import format_time
from xxci.orchestrator.store.secret_store import SecretInfo, SecretStore

Context = grpc.aio.ServicerContext[Any, Any]

MIN_SECRET_BYTES = 4
"""Shorter values are refused: they could not be masked without garbling the logs."""
MAX_SECRET_BYTES = 1024 * 1024


def _info(info: SecretInfo) -> secret_pb2.SecretInfo:
    return secret_pb2.SecretInfo(
        name=info.name,
        pipeline=info.pipeline,
        size=info.size,
        updated_at=format_time(info.updated_at),
    )


class SecretServicer(secret_pb2_grpc.SecretServiceServicer):
    def __init__(self, secrets: SecretStore, clock: Clock) -> None:
        self._secrets = secrets
        self._clock = clock

    async def SetSecret(
        self, request: secret_pb2.SetSecretRequest, context: Context
    ) -> secret_pb2.SecretInfo:
        if not SECRET_NAME.fullmatch(request.name):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"invalid secret name {request.name!r}: letters, digits and _, not first a digit",
            )
        if not MIN_SECRET_BYTES <= len(request.value) <= MAX_SECRET_BYTES:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a secret's value must be {MIN_SECRET_BYTES} bytes to 1 MiB long"
                f" (so it can be masked); this one has {len(request.value)}",
            )
        info = await self._secrets.put(
            request.name, request.value, request.pipeline, self._clock.now()
        )
        return _info(info)

    async def ListSecrets(
        self, request: secret_pb2.ListSecretsRequest, context: Context
    ) -> secret_pb2.ListSecretsResponse:
        return secret_pb2.ListSecretsResponse(
            secrets=[_info(i) for i in await self._secrets.infos()]
        )

    async def RemoveSecret(
        self, request: secret_pb2.RemoveSecretRequest, context: Context
    ) -> secret_pb2.RemoveSecretResponse:
        removed = await self._secrets.remove(request.name, request.pipeline)
        return secret_pb2.RemoveSecretResponse(removed=removed)
