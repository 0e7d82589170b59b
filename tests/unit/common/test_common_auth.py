"""Bearer-token helpers and the gRPC-error translation, without a network."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from xxci.common.auth import (
    TokenAuthInterceptor,
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


def test_server_check() -> None:
    auth = TokenAuthInterceptor("right")
    assert auth.allows([("authorization", "Bearer right")])
    assert not auth.allows([("authorization", "Bearer wrong")])
    assert not auth.allows([("authorization", "Bearer righ")])
    assert not auth.allows([])
    assert not auth.allows(None)


def test_no_token_configured_means_open() -> None:
    assert TokenAuthInterceptor(None).allows([])
    assert TokenAuthInterceptor("").allows([("authorization", "Bearer anything")])


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
