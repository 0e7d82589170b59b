"""open_channel with a CA certificate talks TLS (and still sends the token)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import grpc
import grpc.aio
import pytest

from tests.fakes.orchestrator import FakeBlobService, digest_of
from xxci.common.auth import AccessInterceptor, open_channel
from xxci.common.errors import UsageError
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc

pytestmark = pytest.mark.timeout(15)


def self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_tls_channel_with_token(tmp_path: Path) -> None:
    key, cert = await asyncio.to_thread(self_signed, tmp_path)
    blobs = FakeBlobService()
    blobs.put(b"hello")
    server = grpc.aio.server(interceptors=[AccessInterceptor("t")])
    blob_pb2_grpc.add_BlobServiceServicer_to_server(blobs, server)
    credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    target = f"127.0.0.1:{port}"
    try:
        async with open_channel(target, "t", tls_ca=cert) as channel:
            stat = await blob_pb2_grpc.BlobServiceStub(channel).Stat(
                blob_pb2.BlobRef(digest=digest_of(b"hello")), timeout=5
            )
        assert stat.exists and stat.size == 5
        async with open_channel(target, "t") as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await blob_pb2_grpc.BlobServiceStub(plaintext).Stat(
                    blob_pb2.BlobRef(digest="sha256:x"), timeout=5
                )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


def test_unreadable_ca_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the TLS CA certificate"):
        open_channel("127.0.0.1:1", None, tls_ca=tmp_path / "missing.pem")
