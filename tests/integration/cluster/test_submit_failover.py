"""A client given both addresses of two `xxci server` processes on one PostgreSQL
store, when the one it talks to dies in the middle of a submission: the upload is
made again on the other, and a submission sent again starts one run, not two."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import xxci.common.blobs
from tests.e2e.cluster import TOKEN
from tests.e2e.shared_cluster import SharedCluster
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.errors import XxciError
from xxci.common.events import RunCreated
from xxci.common.pb.v1 import blob_pb2

PIPELINE = "pipeline: {name: one}\njobs: [{name: j, stage: build, image: i, script: [x]}]\n"


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str) -> Iterator[SharedCluster]:
    c = SharedCluster(tmp=tmp_path, url=postgres_url)
    try:
        c.start_servers(2)
        yield c
    finally:
        c.stop()


async def created_runs(address: str) -> list[str]:
    async with GrpcClient(address, TOKEN) as client:
        return [r.event.run_id async for r in client.events() if isinstance(r.event, RunCreated)]


@pytest.mark.timeout(120)
async def test_an_upload_cut_off_by_its_orchestrator_dying_is_made_on_the_next(
    shared: SharedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.tar"
    source.write_bytes(os.urandom(8 * xxci.common.blobs.CHUNK_SIZE))
    chunks = xxci.common.blobs._chunks
    sent: list[int] = []

    async def killed_midway(
        path: Path, digest: str, store: str = ""
    ) -> AsyncIterator[blob_pb2.BlobChunk]:
        async for chunk in chunks(path, digest, store):
            sent.append(len(chunk.data))
            if len(sent) == 3 and 0 in shared.servers:  # server 0 has the first chunks
                shared.kill_server(0)
            yield chunk

    monkeypatch.setattr(xxci.common.blobs, "_chunks", killed_midway)
    async with GrpcClient(shared.addresses(0), TOKEN) as client:
        assert (await client.status())["workers"] == []  # connected to server 0
        digest = await client.upload_source(source)
        assert 0 not in shared.servers
        submitted = await client.submit(Submission("one.yml", PIPELINE, source_blob=digest))
    assert digest == await xxci.common.blobs.file_digest(source)
    assert await created_runs(shared.address(1)) == [submitted.run_id]


@pytest.mark.timeout(120)
async def test_a_submission_sent_again_to_another_orchestrator_starts_one_run(
    shared: SharedCluster,
) -> None:
    """The reply to a submission is lost when its orchestrator dies after creating the
    run: the client sends it again (same run id) to the next, which answers that run."""
    submission = Submission("one.yml", PIPELINE, repo="r", commit="c1", run_id="0123456789ab")
    async with GrpcClient(shared.address(0), TOKEN) as client:
        first = await client.submit(submission)
    shared.kill_server(0)
    async with GrpcClient(shared.addresses(0), TOKEN) as client:
        again = await client.submit(submission)
        assert again == first
        assert first.run_id == "0123456789ab" and first.number == 1
        with pytest.raises(XxciError) as taken:
            await client.submit(Submission("one.yml", PIPELINE, commit="c2", run_id=first.run_id))
        assert str(taken.value) == "run id '0123456789ab' is taken by another run"
        with pytest.raises(XxciError) as bad:
            await client.submit(Submission("one.yml", PIPELINE, run_id="../x"))
        assert str(bad.value) == "run id '../x': expected 12 lowercase hex digits"
    assert await created_runs(shared.address(1)) == ["0123456789ab"]


@pytest.mark.timeout(120)
async def test_a_client_reads_on_through_the_next_orchestrator(shared: SharedCluster) -> None:
    async with GrpcClient(shared.addresses(0), TOKEN) as client:
        submitted = await client.submit(Submission("one.yml", PIPELINE))
        assert (await client.status())["workers"] == []  # answered by server 0
        shared.kill_server(0)
        assert (await client.run_report(submitted.run_id))["run_id"] == submitted.run_id
        assert (await client.status())["workers"] == []
        assert (await client.verify()).problems == []
