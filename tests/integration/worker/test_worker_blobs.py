"""Blob upload/download over a real grpc.aio server, and bearer tokens on every call shape."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
import grpc.aio
import pytest

from tests.fakes.orchestrator import FakeServer, digest_of
from xxci.common.auth import INVALID_TOKEN_DETAILS, open_channel, translate_rpc_error
from xxci.common.blobs import CHUNK_SIZE, BlobDigestMismatch, download, file_digest, upload_file
from xxci.common.errors import ConnectionFailed, NotFoundError
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc, worker_pb2, worker_pb2_grpc
from xxci.worker.attempt.blob_store import BlobStoreUnavailable
from xxci.worker.connection.blob_client import GrpcBlobStore

pytestmark = pytest.mark.timeout(15)


@pytest.mark.parametrize("size", [0, 10, CHUNK_SIZE, CHUNK_SIZE * 2 + 17])
async def test_upload_then_download_round_trip(
    server: FakeServer, tmp_path: Path, size: int
) -> None:
    data = bytes(i % 251 for i in range(size))
    src = tmp_path / "src.tar"
    src.write_bytes(data)
    async with open_channel(server.target, None) as channel:
        digest = await upload_file(channel, src)
        assert digest == digest_of(data) == await file_digest(src)
        assert server.blobs.blobs[digest] == data
        dest = tmp_path / "out" / "copy.tar"
        await download(channel, digest, dest)
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.tar"]


async def test_existing_blob_is_not_uploaded_again(server: FakeServer, tmp_path: Path) -> None:
    src = tmp_path / "src.tar"
    src.write_bytes(b"same bytes")
    server.blobs.put(b"same bytes")
    async with open_channel(server.target, None) as channel:
        assert await upload_file(channel, src) == digest_of(b"same bytes")
    assert server.blobs.uploads == 0


async def test_corrupt_download_leaves_nothing_behind(server: FakeServer, tmp_path: Path) -> None:
    digest = server.blobs.put(b"the real bytes")
    server.blobs.corrupt.add(digest)
    dest = tmp_path / "dest.tar"
    async with open_channel(server.target, None) as channel:
        with pytest.raises(BlobDigestMismatch, match=digest):
            await download(channel, digest, dest)
    assert os.listdir(tmp_path) == []


async def test_missing_blob_translates_to_not_found(server: FakeServer, tmp_path: Path) -> None:
    async with open_channel(server.target, None) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await download(channel, digest_of(b"nothing"), tmp_path / "x")
    assert isinstance(translate_rpc_error(info.value, server.target), NotFoundError)
    assert os.listdir(tmp_path) == []


async def test_unreachable_server_translates_to_connection_failed(tmp_path: Path) -> None:
    srv = FakeServer()
    await srv.start()
    await srv.stop()
    (tmp_path / "f").write_bytes(b"x")
    async with open_channel(srv.target, None) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await upload_file(channel, tmp_path / "f")
    err = translate_rpc_error(info.value, srv.target)
    assert isinstance(err, ConnectionFailed)
    assert str(err).startswith(f"cannot reach the orchestrator at {srv.target}: ")


async def test_the_blob_store_of_attempts_speaks_xxci_errors(tmp_path: Path) -> None:
    srv = FakeServer()
    await srv.start()
    try:
        async with open_channel(srv.target, None) as channel:
            store = GrpcBlobStore(channel, srv.target)
            (tmp_path / "f").write_bytes(b"artifacts")
            digest = await store.upload(tmp_path / "f")
            await store.download(digest, tmp_path / "back")
            assert (tmp_path / "back").read_bytes() == b"artifacts"
            with pytest.raises(NotFoundError) as missing:
                await store.download(digest_of(b"nothing"), tmp_path / "x")
            assert not isinstance(missing.value, BlobStoreUnavailable)
            assert isinstance(missing.value.__cause__, grpc.aio.AioRpcError)
    finally:
        await srv.stop()
    async with open_channel(srv.target, None) as channel:
        store = GrpcBlobStore(channel, srv.target)
        with pytest.raises(BlobStoreUnavailable) as away:
            await store.upload(tmp_path / "f")
    assert str(away.value).startswith(f"cannot reach the orchestrator at {srv.target}: ")


async def _call_every_shape(channel: grpc.aio.Channel) -> None:
    blobs = blob_pb2_grpc.BlobServiceStub(channel)
    await blobs.Stat(blob_pb2.BlobRef(digest=digest_of(b"")))  # unary-unary
    await blobs.Upload(iter([blob_pb2.BlobChunk(data=b"x")]))  # stream-unary
    async for _ in blobs.Download(blob_pb2.BlobRef(digest=digest_of(b"x"))):  # unary-stream
        pass
    call = worker_pb2_grpc.WorkerServiceStub(channel).Connect(None)  # stream-stream
    await call.write(worker_pb2.WorkerMessage(hello=worker_pb2.Hello(name="probe")))
    first = await call.read()
    assert isinstance(first, worker_pb2.OrchestratorMessage)
    call.cancel()


async def test_token_is_sent_and_checked_on_every_call_shape() -> None:
    srv = FakeServer(token="right")
    await srv.start()
    try:
        async with open_channel(srv.target, "right") as channel:
            async with asyncio.timeout(5):
                await _call_every_shape(channel)
        for token in ("wrong", None):
            async with open_channel(srv.target, token) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    async with asyncio.timeout(5):
                        await _call_every_shape(channel)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert info.value.details() == INVALID_TOKEN_DETAILS
    finally:
        await srv.stop()


@pytest.mark.parametrize("shape", ["unary_stream", "stream_unary", "stream_stream"])
async def test_each_shape_is_refused_without_the_token(shape: str) -> None:
    srv = FakeServer(token="right")
    await srv.start()
    try:
        async with open_channel(srv.target, "wrong") as channel:
            blobs = blob_pb2_grpc.BlobServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async with asyncio.timeout(5):
                    if shape == "unary_stream":
                        async for _ in blobs.Download(blob_pb2.BlobRef(digest="sha256:x")):
                            pass
                    elif shape == "stream_unary":
                        await blobs.Upload(iter([blob_pb2.BlobChunk(data=b"x")]))
                    else:
                        call = worker_pb2_grpc.WorkerServiceStub(channel).Connect(None)
                        await call.read()
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert srv.blobs.uploads == 0
        assert srv.workers.connections == []
    finally:
        await srv.stop()
