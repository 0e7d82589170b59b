"""Scenarios of worker identity: a connection is the worker whose credential it
presents and no other; an impostor is refused, recorded, and changes nothing; a
revoked worker is cut off, its job runs elsewhere, and it cannot come back."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.fakes.executor import FakeJob
from tests.fakes.raw_worker import RawWorker
from tests.integration.orchestrator.conftest import ClusterFactory
from tests.integration.orchestrator.harness import ONE_JOB, Cluster, Entry
from xxci.common.api import Outcome
from xxci.common.errors import AuthError, NotFoundError
from xxci.common.events import (
    ConnectionRefused,
    WorkerConnected,
    WorkerDisconnected,
    WorkerRegistered,
    WorkerRevoked,
)
from xxci.common.spec.loader import load_pipeline_text
from xxci.common.status import RunStatus
from xxci.orchestrator.application import OrchestratorService

pytestmark = pytest.mark.timeout(30)

DONE_ON_ATTEMPT_1 = [
    Entry("RunCreated", "", 0),
    Entry("StageStarted", "test", 0),
    Entry("JobQueued", "job", 1),
    Entry("JobAssigned", "job", 1),
    Entry("JobStarted", "job", 1),
    Entry("StepFinished", "job", 1),
    Entry("StepFinished", "job", 1),
    Entry("JobFinished", "job", 1),
    Entry("StageFinished", "test", 0),
    Entry("RunFinished", "", 0),
]


async def test_connections_claiming_a_worker_s_id_are_refused_and_it_keeps_its_stream(
    cluster: Cluster,
) -> None:
    honest = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    session = cluster.session_of(honest)
    victim = honest.worker_id

    async with (
        RawWorker(cluster.address, "rogue") as rogue,
        RawWorker(cluster.address, "bare") as bare,
        RawWorker(cluster.address, "forger") as forger,
    ):
        # A registered worker of its own, claiming the other's id.
        await rogue.register()
        await rogue.hello(victim)
        rogue_id = rogue.credential.split(".")[1]
        assert await rogue.refused() == (
            grpc.StatusCode.PERMISSION_DENIED,
            f"worker {rogue_id} may not connect as worker {victim}",
        )
        # No credential at all (on a server with a token: the shared token), the id only.
        await bare.hello(victim, bearer="")
        assert await bare.refused() == (
            grpc.StatusCode.UNAUTHENTICATED,
            "a worker connects with its own credential, not the shared token: register it first",
        )
        # A credential naming the worker, with a secret it guessed.
        await forger.hello(victim, bearer=f"xxci-worker.{victim}.{'g' * 43}")
        assert await forger.refused() == (
            grpc.StatusCode.UNAUTHENTICATED,
            f"invalid credential for worker {victim}",
        )

    assert cluster.session_of(honest) is session, "the honest worker lost its stream"
    await cluster.release("job", honest)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert await cluster.history(run_id) == DONE_ON_ATTEMPT_1

    events = await cluster.worker_events(victim)
    refused = [e for e in events if isinstance(e, ConnectionRefused)]
    assert [(e.reason, e.presented, e.name) for e in refused] == [
        (f"worker {rogue_id} claimed this worker's id", f"worker:{rogue_id}", "rogue"),
        ("a connection without this worker's credential claimed its id", "no credential", "bare"),
        ("a connection presented a wrong secret for this worker", "wrong secret", "forger"),
    ]
    assert all(e.worker_id == victim and e.peer.startswith("ipv4:127.0.0.1:") for e in refused)
    assert [type(e) for e in events if not isinstance(e, ConnectionRefused)] == [
        WorkerRegistered,
        WorkerConnected,
    ], "the refused connections must not have touched the worker's session"


async def test_a_revoked_worker_is_cut_off_its_job_runs_again_and_it_cannot_return(
    cluster: Cluster,
) -> None:
    revoked = await cluster.add_worker("w1")
    run_id = await cluster.submit(ONE_JOB)
    await cluster.wait_for_event(run_id, "JobStarted", "job", 1)
    api = OrchestratorService(cluster.orchestrator)
    worker_id = revoked.worker_id

    outcome = await api.revoke_worker(worker_id)

    assert outcome == Outcome(
        True,
        f"worker {worker_id} (w1) revoked: it is disconnected, its jobs run again elsewhere,"
        " and it cannot connect until it registers again (xxci worker --register)",
    )
    assert revoked.task is not None
    with pytest.raises(AuthError) as raised:
        async with asyncio.timeout(5):
            await revoked.task
    assert str(raised.value) == (
        f"the orchestrator at 127.0.0.1:{revoked.link.port} refused this worker:"
        f" worker {worker_id} was revoked: register it again (xxci worker --register)"
    )
    await cluster.wait_for_event(run_id, "JobAttemptLost", "job", 1)
    other = await cluster.add_worker("w2")
    await cluster.release("job", other)
    state = await cluster.wait_finished(run_id)
    assert state.status is RunStatus.SUCCESS
    assert state.jobs["job"].attempts[0].message == "worker w1 revoked"
    assert state.jobs["job"].worker_id == other.worker_id

    events = await cluster.worker_events(worker_id)
    assert [type(e) for e in events] == [
        WorkerRegistered,
        WorkerConnected,
        WorkerRevoked,
        WorkerDisconnected,
        ConnectionRefused,
    ]
    assert events[3] == WorkerDisconnected(worker_id=worker_id, reason="credential revoked")
    assert isinstance(events[4], ConnectionRefused)
    assert (events[4].reason, events[4].presented) == (
        "a connection with this worker's revoked credential was refused",
        "revoked credential",
    )

    again = await api.revoke_worker(worker_id)
    assert not again.accepted
    assert again.message.startswith(f"worker {worker_id} (w1) was revoked already, at ")
    with pytest.raises(NotFoundError, match=r"^no worker 'nope' \(xxci worker ls lists them\)$"):
        await api.revoke_worker("nope")
    listed = {w.worker_id: w for w in await api.workers()}
    assert (listed[worker_id].connected, listed[worker_id].name) == (False, "w1")
    assert listed[worker_id].revoked_at is not None
    assert listed[worker_id].last_seen_at is not None
    assert (listed[other.worker_id].connected, listed[other.worker_id].revoked_at) == (True, None)
    assert set(listed) == {worker_id, other.worker_id}


WITH_ARTIFACTS = """
pipeline:
  name: scenario
stages: [build, test]
default:
  image: busybox
jobs:
  - name: make
    stage: build
    script: [make]
    artifacts: {paths: [out/]}
  - name: check
    stage: test
    needs: [make]
    script: [make check]
"""


async def test_behind_a_token_a_worker_moves_blobs_with_its_own_credential(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster(token="s3cret", hold=False)
    worker = await cluster.add_worker("w1", jobs={"make": FakeJob(artifacts=b"built")})
    source = await cluster.orchestrator.blobs.put_bytes(b"the source tree")
    pipeline = load_pipeline_text(WITH_ARTIFACTS, "test.yml")
    state = await cluster.orchestrator.submit(pipeline, source_blob=source.digest)

    state = await cluster.wait_finished(state.run_id)

    assert state.status is RunStatus.SUCCESS
    made, checked = worker.executor.run_of("make"), worker.executor.run_of("check")
    assert made.source == checked.source == b"the source tree"  # downloaded
    assert checked.artifacts == [b"built"]  # uploaded by make, downloaded for check
    registered = await cluster.orchestrator.identities.all()
    assert [r.worker_id for r in registered] == [worker.worker_id]


async def test_refused_connections_are_recorded_within_a_budget_per_worker(
    cluster: Cluster,
) -> None:
    honest = await cluster.add_worker("w1")
    victim = honest.worker_id
    guessed = f"xxci-worker.{victim}.{'g' * 43}"  # no shared token needed to knock

    async def knock(times: int) -> None:
        for _ in range(times):
            async with RawWorker(cluster.address, "forger") as forger:
                await forger.hello(victim, bearer=guessed)
                assert await forger.refused() == (
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"invalid credential for worker {victim}",
                )

    await knock(13)  # all refused; ten recorded, three only counted
    await cluster.advance(61)
    await knock(1)  # a new window: recorded, saying how many were left out

    events = await cluster.worker_events(victim)
    refused = [e for e in events if isinstance(e, ConnectionRefused)]
    assert [e.left_out for e in refused] == [0] * 10 + [3]
    assert cluster.session_of(honest) is not None, "the honest worker lost its stream"
