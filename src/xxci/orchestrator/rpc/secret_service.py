"""``SecretService``: set, list and remove secrets, through the API. No call here
returns a value."""

from __future__ import annotations

from typing import Any

import grpc

from xxci.common.api import OrchestratorApi, SecretInfo
from xxci.common.pb.v1 import secret_pb2, secret_pb2_grpc
from xxci.orchestrator.rpc.pipeline_service import answering

Context = grpc.aio.ServicerContext[Any, Any]


def _info(info: SecretInfo) -> secret_pb2.SecretInfo:
    return secret_pb2.SecretInfo(
        name=info.name, pipeline=info.pipeline, size=info.size, updated_at=info.updated_at
    )


class SecretServicer(secret_pb2_grpc.SecretServiceServicer):
    def __init__(self, api: OrchestratorApi) -> None:
        self._api = api

    async def SetSecret(
        self, request: secret_pb2.SetSecretRequest, context: Context
    ) -> secret_pb2.SecretInfo:
        async with answering(context):
            return _info(await self._api.set_secret(request.name, request.value, request.pipeline))

    async def ListSecrets(
        self, request: secret_pb2.ListSecretsRequest, context: Context
    ) -> secret_pb2.ListSecretsResponse:
        secrets = await self._api.secrets()
        return secret_pb2.ListSecretsResponse(secrets=[_info(i) for i in secrets])

    async def RemoveSecret(
        self, request: secret_pb2.RemoveSecretRequest, context: Context
    ) -> secret_pb2.RemoveSecretResponse:
        removed = await self._api.remove_secret(request.name, request.pipeline)
        return secret_pb2.RemoveSecretResponse(removed=removed)
