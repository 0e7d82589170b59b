"""Telling a plaintext client that the orchestrator it calls speaks TLS.

A plaintext gRPC client that reaches a TLS server only sees its connection closed
("Socket closed"): nothing in the failure says why. :func:`explain` then asks the
server itself: it opens a TLS connection to it (trusting any certificate: the point
is only whether TLS answers), and if the handshake completes, the failure becomes a
:class:`~xxci.common.errors.TlsError` that says to pass ``--tls-ca``. Every other
failure is :func:`~xxci.common.auth.translate_rpc_error`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import grpc
import grpc.aio

from xxci.common.auth import translate_rpc_error
from xxci.common.errors import ConnectionFailed, TlsError, XxciError

__all__ = ["PROBE_SECONDS", "explain", "speaks_tls"]

PROBE_SECONDS = 2.0


def _host_port(target: str) -> tuple[str, int] | None:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


async def speaks_tls(target: str, timeout: float = PROBE_SECONDS) -> bool:  # noqa: ASYNC109
    """Whether a TLS handshake with ``target`` ("host:port") completes in time."""
    address = _host_port(target)
    if address is None:
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(*address, ssl=context)
    except (OSError, ssl.SSLError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def explain(err: grpc.aio.AioRpcError, target: str, *, tls: bool) -> XxciError:
    """The xxci error for a failed call to ``target`` over a channel that is TLS or not
    (``tls``), chained to ``err``."""
    result = translate_rpc_error(err, target)
    closed = "Socket closed" in (err.details() or "")
    if not tls and closed and isinstance(result, ConnectionFailed) and await speaks_tls(target):
        result = TlsError(
            f"the orchestrator at {target} speaks TLS: pass --tls-ca with the CA "
            "certificate that signed its certificate"
        )
        result.__cause__ = err
    return result
