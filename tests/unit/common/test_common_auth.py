"""Bearer-token helpers and the gRPC-error translation, without a network."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from xxci.common.auth import (
    AccessInterceptor,
    bearer_value,
    client_interceptors,
    token_from_metadata,
    translate_rpc_error,
)
from xxci.common.errors import AuthError, ConnectionFailed, NotFoundError, XxciError


def test_bearer_header_round_trip() -> None:
    assert bearer_value("s3cret") == "Bearer s3cret"
    assert token_from_metadata([("authorization", "Bearer s3cret")]) == "s3cret"


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ([("user-agent", "x"), ("authorization", "bearer  abc ")], "abc"),
        ([("Authorization", "Bearer abc")], "abc"),
        ([("authorization", b"Bearer abc")], "abc"),
        ([("authorization", "Basic abc")], None),
        ([("authorization", "Bearer ")], None),
        ([("user-agent", "x")], None),
        (None, None),
    ],
)
def test_token_from_metadata(
    metadata: list[tuple[str, str | bytes]] | None, token: str | None
) -> None:
    assert token_from_metadata(metadata) == token


SUBMIT = "/xxci.v1.PipelineService/SubmitRun"
REGISTER = "/xxci.v1.WorkerService/Register"
CONNECT = "/xxci.v1.WorkerService/Connect"
DOWNLOAD = "/xxci.v1.BlobService/Download"
GOOD = "xxci-worker.w1." + "s" * 43
FORGED = "xxci-worker.w1." + "f" * 43


def bearer(token: str) -> list[tuple[str, str | bytes]]:
    return [("authorization", f"Bearer {token}")]


async def vouch(presented: str) -> str | None:
    return "w1" if presented == GOOD else None


@pytest.mark.parametrize("method", [SUBMIT, REGISTER, CONNECT, DOWNLOAD])
async def test_the_shared_token_opens_every_call(method: str) -> None:
    auth = AccessInterceptor("right", vouch)
    assert await auth.allows(method, bearer("right"))
    assert not await auth.allows(method, bearer("wrong"))
    assert not await auth.allows(method, bearer("righ"))
    assert not await auth.allows(method, [])
    assert not await auth.allows(method, None)


async def test_a_worker_credential_opens_only_the_worker_s_calls() -> None:
    auth = AccessInterceptor("right", vouch)
    assert await auth.allows(DOWNLOAD, bearer(GOOD))
    assert not await auth.allows(DOWNLOAD, bearer(FORGED))  # vouched for by nobody
    assert not await auth.allows(SUBMIT, bearer(GOOD))
    assert not await auth.allows(REGISTER, bearer(GOOD))
    assert not await auth.allows("/xxci.v1.SecretService/SetSecret", bearer(GOOD))
    # A job's caches, yes; listing or removing the caches of every pipeline, no.
    assert await auth.allows("/xxci.v1.CacheService/Lookup", bearer(GOOD))
    assert await auth.allows("/xxci.v1.CacheService/Save", bearer(GOOD))
    assert not await auth.allows("/xxci.v1.CacheService/List", bearer(GOOD))
    assert not await auth.allows("/xxci.v1.CacheService/Remove", bearer(GOOD))
    assert not await auth.allows("/xxci.v1.CacheService/LookupAll", bearer(GOOD))
    # The stream admits credentials itself, so that it can record whom they claimed.
    assert await auth.allows(CONNECT, bearer(FORGED))
    assert not await auth.allows(CONNECT, bearer("not-a-credential"))


async def test_no_token_configured_means_open() -> None:
    assert await AccessInterceptor(None).allows(SUBMIT, [])
    assert await AccessInterceptor("").allows(REGISTER, bearer("anything"))


def test_client_interceptors_cover_every_call_shape() -> None:
    assert client_interceptors(None) == []
    shapes = [
        grpc.aio.UnaryUnaryClientInterceptor,
        grpc.aio.UnaryStreamClientInterceptor,
        grpc.aio.StreamUnaryClientInterceptor,
        grpc.aio.StreamStreamClientInterceptor,
    ]
    interceptors = client_interceptors("t")
    for shape in shapes:
        # grpc.aio keeps an interceptor for the first shape it implements only
        assert sum(isinstance(i, shape) for i in interceptors) == 1


def error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


@pytest.mark.parametrize(
    ("code", "kind", "text"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            ConnectionFailed,
            "cannot reach the orchestrator at h:1: boom",
        ),
        (
            grpc.StatusCode.UNAUTHENTICATED,
            AuthError,
            "the orchestrator at h:1 refused the token: boom",
        ),
        (grpc.StatusCode.NOT_FOUND, NotFoundError, "boom"),
        (grpc.StatusCode.INVALID_ARGUMENT, XxciError, "boom"),
        (
            grpc.StatusCode.INTERNAL,
            XxciError,
            "the orchestrator at h:1 failed the call (INTERNAL): boom",
        ),
    ],
)
def test_translate_rpc_error(code: grpc.StatusCode, kind: type[XxciError], text: str) -> None:
    original = error(code, "boom")
    translated = translate_rpc_error(original, "h:1")
    assert type(translated) is kind
    assert str(translated) == text
    assert translated.__cause__ is original
