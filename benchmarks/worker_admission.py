"""What worker identity costs a connection (a real ``xxci server`` process, gRPC on
loopback, no Docker):

- **register**: ``WorkerService.Register`` with the shared token (a new identity, its
  hash stored with ``synchronous=FULL`` on SQLite);
- **connect**: a stream presenting the worker's own credential, from opening it to the
  Welcome (the credential checked against the identities table, the connection
  recorded);
- **refused**: a stream presenting a guessed secret for a registered worker, until the
  refusal (the first ten a minute recorded as ``ConnectionRefused``, then only counted).

    python benchmarks/worker_admission.py [--count 200]

Once on SQLite, once on PostgreSQL (a throwaway durable cluster, as
``benchmarks/shared_store.py`` starts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import grpc.aio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.postgres import PostgresCluster
from xxci.common.pb.v1 import worker_pb2, worker_pb2_grpc

XXCI = [sys.executable, "-m", "xxci.cli"]
TOKEN = "admission"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.05)


def bearer(value: str) -> grpc.aio.Metadata:
    return grpc.aio.Metadata(("authorization", f"Bearer {value}"))


async def connect(stub: worker_pb2_grpc.WorkerServiceAsyncStub, credential: str) -> str:
    """Open a stream as ``credential``, say Hello; the first reply's kind, or the
    status code it was refused with."""
    stream = stub.Connect(None, metadata=bearer(credential))
    try:
        await stream.write(worker_pb2.WorkerMessage(hello=worker_pb2.Hello(name="b", capacity=1)))
        reply = await stream.read()
        if isinstance(reply, worker_pb2.OrchestratorMessage):
            return str(reply.WhichOneof("kind"))
        return str(await stream.code())
    except grpc.aio.AioRpcError as err:
        return str(err.code())
    finally:
        stream.cancel()


def figures(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[max(0, round(len(ms) * 0.95) - 1)]
    return f"{name:9} n={len(ms)}  p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms"


async def measure(address: str, count: int) -> None:
    channel: grpc.aio.Channel = grpc.aio.insecure_channel(address)
    async with channel:
        stub = worker_pb2_grpc.WorkerServiceStub(channel)
        registered, connected, refused = [], [], []
        credentials = []
        for i in range(count):
            started = time.perf_counter()
            reply = await stub.Register(
                worker_pb2.RegisterRequest(name=f"bench-{i}"), metadata=bearer(TOKEN)
            )
            registered.append(time.perf_counter() - started)
            credentials.append(reply.credential)
        for credential in credentials:
            started = time.perf_counter()
            kind = await connect(stub, credential)
            connected.append(time.perf_counter() - started)
            assert kind == "welcome", kind
        worker_id = credentials[0].split(".")[1]
        for _ in range(count):
            started = time.perf_counter()
            kind = await connect(stub, f"xxci-worker.{worker_id}.{'g' * 43}")
            refused.append(time.perf_counter() - started)
            assert kind == str(grpc.StatusCode.UNAUTHENTICATED), kind
    for name, seconds in (("register", registered), ("connect", connected), ("refused", refused)):
        print(figures(name, seconds))


def serve_and_measure(store: str, count: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        where = ["--store", store] if store else []
        server = subprocess.Popen(
            [*XXCI, "server", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp, *where],
            env={**os.environ, "XXCI_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "server.log").open("wb"),
        )
        try:
            wait_port(port)
            print(f"worker admission, {'PostgreSQL' if store else 'SQLite'} store:")
            asyncio.run(measure(f"127.0.0.1:{port}", count))
        finally:
            server.terminate()
            server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    serve_and_measure("", args.count)
    cluster = PostgresCluster.start(durable=True)
    try:
        serve_and_measure(cluster.new_database(), args.count)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
