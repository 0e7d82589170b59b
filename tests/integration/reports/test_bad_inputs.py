"""Bad input from a client ends in one clear line and its exit code, in the CLI and on
the server, never a traceback: numbers past any run, malformed blob digests, text
that is not Unicode or holds NUL, names with terminal control characters."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from tests.integration.reports.conftest import TOKEN, serve
from tests.integration.reports.recorder import run_cli
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.auth import open_channel
from xxci.common.errors import NotFoundError, UsageError, XxciError
from xxci.common.pb.v1 import blob_pb2, blob_pb2_grpc
from xxci.orchestrator.application import OrchestratorService
from xxci.orchestrator.domain.limits import Limits
from xxci.orchestrator.domain.state import RunState

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["logs", f"docs#{HUGE}", "build"], 1, f"error: pipeline 'docs' has no run #{HUGE}"),
        (["events", f"docs#{HUGE}"], 1, f"error: pipeline 'docs' has no run #{HUGE}"),
        (["cancel", f"docs#{HUGE}"], 1, f"error: pipeline 'docs' has no run #{HUGE}"),
        (
            ["report", "--pipeline", "docs", "--run", HUGE],
            2,
            f"error: --run takes a number of at most {2**63 - 1}, not {HUGE}",
        ),
        (
            ["logs", "docs#1", "build", "--attempt", HUGE],
            2,
            f"error: --attempt takes a number of at most {2**63 - 1}, not {HUGE}",
        ),
        (
            ["events", "--since", HUGE],
            2,
            f"error: --since takes a number of at most {2**63 - 1}, not {HUGE}",
        ),
    ],
)
async def test_numbers_past_any_run_are_one_line_locally(
    history: dict[str, RunState], args: list[str], code: int, message: str
) -> None:
    result = await run_cli(*args, "--local")
    assert (result.exit_code, result.stderr.strip()) == (code, message)
    assert "Traceback" not in result.output


async def test_numbers_past_any_run_through_the_service_are_not_found_or_clamped(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path / "data") as served:
        api = OrchestratorService(served.orchestrator)
        with pytest.raises(NotFoundError, match=f"pipeline 'docs' has no run #{HUGE}"):
            await api.run_report(f"docs#{HUGE}")
        assert [r async for r in api.events(since_seq=2**70)] == []
        with pytest.raises(UsageError, match="--since must be 0 or more, not -1"):
            await anext(api.events(since_seq=-1))


async def test_malformed_and_unknown_digests_are_invalid_argument_and_not_found_on_the_wire(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serve(tmp_path / "data") as served:
        channel = open_channel(served.server.address, token=TOKEN)
        try:
            stub = blob_pb2_grpc.BlobServiceStub(channel)
            for call in (
                stub.Stat(blob_pb2.BlobRef(digest="../../etc/passwd")),
                anext(aiter(stub.Download(blob_pb2.BlobRef(digest="../../etc/passwd")))),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
                assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
                assert caught.value.details() == (
                    "invalid blob digest '../../etc/passwd': expected sha256:<64 lowercase hex>"
                )
            unknown = "sha256:" + "0" * 64
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await anext(aiter(stub.Download(blob_pb2.BlobRef(digest=unknown))))
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND
            assert caught.value.details() == f"no blob {unknown}"
        finally:
            await channel.close(None)
    assert "Traceback" not in caplog.text


async def test_an_upload_past_the_servers_limit_is_refused_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path / "data", limits=Limits(upload_bytes=1024 * 1024)) as served:
        channel = open_channel(served.server.address, token=TOKEN)
        try:
            stub = blob_pb2_grpc.BlobServiceStub(channel)

            async def chunks() -> AsyncIterator[blob_pb2.BlobChunk]:
                for _ in range(12):
                    yield blob_pb2.BlobChunk(data=b"x" * (256 * 1024))

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Upload(chunks())
            assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert caught.value.details() == (
                "the upload is larger than this orchestrator's limit of 1 MiB per blob"
            )
            assert list((tmp_path / "data" / "blobs").rglob("*")) == [
                tmp_path / "data" / "blobs" / "tmp"
            ]
            doc = await OrchestratorService(served.orchestrator).status()
            assert doc["limits"]["upload_bytes"] == 1024 * 1024
        finally:
            await channel.close(None)


async def test_a_submission_with_nul_or_a_bad_digest_is_refused_by_the_service(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path / "data") as served:
        api = OrchestratorService(served.orchestrator)
        with pytest.raises(UsageError, match=r"branch holds a NUL character: 'ma\\x00in'"):
            await api.submit(Submission("p.yml", "pipeline: {name: p}\n", branch="ma\0in"))
        with pytest.raises(
            UsageError, match=re.escape("invalid source blob digest '../../etc/passwd'")
        ):
            await api.submit(
                Submission("p.yml", "pipeline: {name: p}\n", source_blob="../../etc/passwd")
            )


async def test_a_file_with_thousands_of_errors_gets_them_cut_to_fit_the_wire(
    tmp_path: Path,
) -> None:
    text = "pipeline: {name: p}\nstages: [build]\njobs:\n" + "".join(
        f"  - {{name: j{i}, stage: nowhere, image: x, script: [a]}}\n" for i in range(900)
    )
    async with (
        serve(tmp_path / "data") as served,
        GrpcClient(served.server.address, TOKEN) as client,
    ):
        with pytest.raises(XxciError) as caught:
            await client.submit(Submission("p.yml", text))
    lines = str(caught.value).splitlines()
    assert lines[0] == "p.yml:4:23: job 'j0' is in undefined stage 'nowhere' (stages: build)"
    assert lines[-1].startswith("... and ") and lines[-1].endswith(" more lines")
    assert len(str(caught.value).encode()) <= 8 * 1024
