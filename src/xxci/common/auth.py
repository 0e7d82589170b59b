"""The gRPC boundary shared by the CLI, the worker and the server: tokens, channels, errors.

Every call carries ``authorization: Bearer <token>``: the shared token of clients
(and of a worker registering), or a registered worker's own credential
(:mod:`xxci.common.credentials`). Clients get a channel that adds it from
:func:`open_channel` (TLS when a CA certificate is given); the server checks it with
:class:`AccessInterceptor`, which answers ``UNAUTHENTICATED`` ("missing or invalid
token") before the handler ever runs:

=====================================  =============================================
calls                                  who may make them
=====================================  =============================================
the worker stream (Connect)            a worker credential (the stream checks it and
                                       records who was claimed) or the shared token
                                       (refused there too, but recorded)
blobs, caches (:data:`WORKER_CALLS`)   the shared token, or a valid worker credential
everything else (Register included)    the shared token
=====================================  =============================================

A server configured without a token lets every call through to its handler (the
worker stream still admits registered workers only). :func:`translate_rpc_error`
turns a failed call into the :class:`~xxci.common.errors.XxciError` a user should see,
once, at the boundary.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc
import grpc.aio

from xxci.common.addresses import channel_target
from xxci.common.credentials import WorkerCredential
from xxci.common.errors import (
    AuthError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    TlsError,
    UsageError,
    XxciError,
)

__all__ = [
    "AUTHORIZATION_KEY",
    "CHANNEL_OPTIONS",
    "INVALID_TOKEN_DETAILS",
    "WORKER_CALLS",
    "WORKER_STREAM",
    "AccessInterceptor",
    "bearer_value",
    "client_interceptors",
    "connection_reason",
    "open_channel",
    "token_from_metadata",
    "translate_rpc_error",
]

AUTHORIZATION_KEY = "authorization"
INVALID_TOKEN_DETAILS = "missing or invalid token"
_SCHEME = "bearer"

if TYPE_CHECKING:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = grpc.aio.StreamStreamClientInterceptor[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor
    _StreamUnary = grpc.aio.StreamUnaryClientInterceptor
    _StreamStream = grpc.aio.StreamStreamClientInterceptor
    _ServerInterceptor = grpc.aio.ServerInterceptor


def bearer_value(token: str) -> str:
    """The ``authorization`` header value for ``token``."""
    return f"Bearer {token}"


def token_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The bearer token in ``metadata``, or None when there is none (or another scheme)."""
    for key, value in metadata or ():
        if key.lower() != AUTHORIZATION_KEY:
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == _SCHEME and token.strip():
            return token.strip()
        return None
    return None


class _BearerToken:
    """Adds ``authorization: Bearer <token>`` to a call's metadata (replacing any)."""

    def __init__(self, token: str) -> None:
        self._header = (AUTHORIZATION_KEY, bearer_value(token))

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata()
        for key, value in details.metadata or ():
            if key.lower() != AUTHORIZATION_KEY:
                metadata.add(key, value)
        metadata.add(*self._header)
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
        )


# grpc.aio files each interceptor object under the FIRST call shape it implements
# (an if/elif on isinstance), so every shape needs an object of its own. grpc.aio
# passes coroutine continuations; the stubs type them as plain callables, hence Any.


class _UnaryUnaryBearer(_BearerToken, _UnaryUnary):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStreamBearer(_BearerToken, _UnaryStream):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnaryBearer(_BearerToken, _StreamUnary):
    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStreamBearer(_BearerToken, _StreamStream):
    async def intercept_stream_stream(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def client_interceptors(token: str | None) -> list[_BearerToken]:
    """Interceptors sending ``token`` on calls of all four shapes (none without a token)."""
    if not token:
        return []
    return [
        _UnaryUnaryBearer(token),
        _UnaryStreamBearer(token),
        _StreamUnaryBearer(token),
        _StreamStreamBearer(token),
    ]


async def _deny(request_or_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, INVALID_TOKEN_DETAILS)


def _denying_handler(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same call shape as ``handler`` that only says UNAUTHENTICATED."""
    kwargs: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    factory: Callable[..., grpc.RpcMethodHandler[Any, Any]]
    if handler.request_streaming and handler.response_streaming:
        factory = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        factory = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        factory = grpc.unary_stream_rpc_method_handler
    else:
        factory = grpc.unary_unary_rpc_method_handler
    return factory(_deny, **kwargs)


WORKER_STREAM = "/xxci.v1.WorkerService/Connect"
WORKER_CALLS = (
    "/xxci.v1.BlobService/",
    "/xxci.v1.CacheService/Lookup",
    "/xxci.v1.CacheService/Save",
)
"""What a registered worker calls beside its stream, with its own credential: blobs,
and a job's cache lookups and saves. Listing and removing caches is for people (the
shared token), not for a worker or a job's script that reads its credential."""

Vouch = Callable[[str], Awaitable[str | None]]
"""The id of the worker whose valid credential a bearer is, else None."""


def _worker_call(method: str) -> bool:
    return any(
        method.startswith(call) if call.endswith("/") else method == call for call in WORKER_CALLS
    )


class AccessInterceptor(_ServerInterceptor):
    """Server interceptor: lets a call through only if its bearer may make it (see
    the module docstring).

    ``token`` is the shared token (None or empty: the server is open and every call
    passes); ``vouch`` checks a worker credential (none: worker credentials open
    nothing but the stream). Token comparisons are constant-time.
    """

    def __init__(self, token: str | None, vouch: Vouch | None = None) -> None:
        self._token = token.encode() if token else None
        self._vouch = vouch

    async def allows(self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
        """Whether a call of ``method`` with ``metadata`` may proceed."""
        if self._token is None:
            return True
        presented = token_from_metadata(metadata)
        if presented is None:
            return False
        if hmac.compare_digest(presented.encode(), self._token):
            return True
        if WorkerCredential.parse(presented) is None:
            return False
        if method == WORKER_STREAM:
            return True  # the stream admits it, and records whom it claimed to be
        if _worker_call(method) and self._vouch is not None:
            return await self._vouch(presented) is not None
        return False

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        # No handler means an unknown method: let grpc answer UNIMPLEMENTED.
        if handler is None:
            return handler
        method = handler_call_details.method
        if await self.allows(method, handler_call_details.invocation_metadata):
            return handler
        return _denying_handler(handler)


# -- client channels and error translation ----------------------------------------

#: Reconnect quickly: workers retry with their own backoff (capped at 2 s, at least 1 s
#: once capped), and grpc's default channel backoff (up to 120 s) would otherwise
#: stretch every retry: a call on a channel waiting out its backoff fails at once,
#: without trying. Kept under a second (0.8 s, plus grpc's 20 % jitter), every retry
#: of a worker really dials.
#: Keepalive pings find a dead orchestrator host within ~40 s on a quiet stream (the
#: server must allow pings every 30 s: grpc.http2.min_ping_interval_without_data_ms).
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 800),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)


def open_channel(target: str, token: str | None, tls_ca: Path | None = None) -> grpc.aio.Channel:
    """A channel to ``target`` ("host:port", or several: "a:7420,b:7420", see
    :mod:`xxci.common.addresses`) carrying ``token`` on every call.

    With ``tls_ca`` (a PEM file) the channel is TLS, trusting that CA; without it the
    channel is plaintext. Close it with ``await channel.close()``.
    """
    # The stubs leave client interceptors untyped ("must cast"); ours cover every shape.
    interceptors = cast("list[Any]", client_interceptors(token))
    address, extra = channel_target(target)  # "a:7420,b:7420": the next when one is down
    options: list[tuple[str, str | int]] = [*CHANNEL_OPTIONS, *extra]
    if tls_ca is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    try:
        root = tls_ca.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the TLS CA certificate {tls_ca}: {err.strerror}") from err
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)


def translate_rpc_error(err: grpc.aio.AioRpcError, target: str) -> XxciError:
    """The xxci error for a failed call to the orchestrator at ``target``.

    A failed TLS handshake -> TlsError; UNAVAILABLE / DEADLINE_EXCEEDED ->
    ConnectionFailed (with grpc's reason made short: "connection refused"); UNAUTHENTICATED /
    PERMISSION_DENIED -> AuthError, NOT_FOUND -> NotFoundError, ABORTED -> ConflictError,
    INVALID_ARGUMENT / FAILED_PRECONDITION / RESOURCE_EXHAUSTED (a limit) -> XxciError
    with the server's text as is;
    anything else -> XxciError naming the status. The result is chained to ``err``.
    """
    code = err.code()
    details = (err.details() or "").strip()
    result: XxciError
    if code == grpc.StatusCode.UNAVAILABLE and (tls := _tls_problem(details, target)):
        result = tls
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        result = ConnectionFailed(
            f"cannot reach the orchestrator at {target}: "
            f"{connection_reason(details) or code.name.lower()}"
        )
    elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        result = AuthError(
            f"the orchestrator at {target} refused the token: {details or code.name.lower()}"
        )
    elif code == grpc.StatusCode.NOT_FOUND:
        result = NotFoundError(details or "not found")
    elif code == grpc.StatusCode.ABORTED:
        result = ConflictError(details or "conflicting update, try again")
    elif code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        result = XxciError(details or code.name.lower())
    else:
        result = XxciError(
            f"the orchestrator at {target} failed the call ({code.name}): {details or 'no details'}"
        )
    result.__cause__ = err
    return result


_LAST_ERROR = re.compile(r"last error: (?:[A-Z_]+: )?(?:(?:ipv4|ipv6|unix):\S+?: )?(?P<reason>.*)$")
_OPENSSL = re.compile(r"OPENSSL_internal:(?P<what>[A-Z_]+)(?::\s*(?P<more>[^:]+))?")


def connection_reason(details: str) -> str:
    """grpc's account of a failed connection, made short: "connection refused", "the
    connection was closed", or the last error as grpc words it."""
    match = _LAST_ERROR.search(details)
    reason = match.group("reason") if match else details
    reason = reason.removeprefix("Failed to connect to remote host: ").strip()
    if reason == "Socket closed":
        return "the connection was closed"
    if reason.startswith("DNS resolution failed"):
        return f"cannot resolve its name ({reason.rsplit(': ', 1)[-1]})"
    return reason[:1].lower() + reason[1:] if reason[:2] != reason[:2].upper() else reason


def _tls_problem(details: str, target: str) -> TlsError | None:
    """The TlsError a failed connection's ``details`` describe, if any."""
    if "Tls handshake failed" not in details and "SSL_ERROR" not in details:
        return None
    found = _OPENSSL.search(details)
    what = found.group("what") if found else ""
    if what == "WRONG_VERSION_NUMBER":
        return TlsError(
            f"the orchestrator at {target} does not speak TLS: leave out --tls-ca "
            "(or start it with --tls-cert and --tls-key)"
        )
    if what == "CERTIFICATE_VERIFY_FAILED":
        more = (found.group("more") or "").strip() if found else ""
        return TlsError(
            f"the orchestrator at {target} has a certificate that --tls-ca does not vouch for"
            + (f" ({more})" if more else "")
        )
    failure = what or details
    return TlsError(f"the TLS handshake with the orchestrator at {target} failed: {failure}")
