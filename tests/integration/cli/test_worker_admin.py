"""``xxci worker ls`` and ``xxci worker revoke`` through the CLI runner, against a real
orchestrator with a token, its workers registered over real gRPC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import grpc
import pytest
from asyncclick.testing import CliRunner, Result

from tests.fakes.raw_worker import RawWorker
from xxci.cli.main import cli
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator

pytestmark = pytest.mark.timeout(30)

TOKEN = "admin-token"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[OrchestratorServer]:
    srv = OrchestratorServer(Orchestrator(tmp_path / "data"), "127.0.0.1:0", token=TOKEN)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop(grace=0)


async def xxci(server: OrchestratorServer, *args: str, token: str = TOKEN) -> Result:
    env = {"XXCI_SERVER": server.address, "XXCI_TOKEN": token}
    return await CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def local(stamp: str | None) -> str:
    if stamp is None:
        return "never"
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def test_an_operator_lists_and_revokes_workers(server: OrchestratorServer) -> None:
    empty = await xxci(server, "worker", "ls")
    assert (empty.exit_code, empty.stdout) == (0, "no worker has registered yet\n")

    async with (
        RawWorker(server.address, "box", token=TOKEN) as box,
        RawWorker(server.address, "spare", token=TOKEN) as spare,
    ):
        box_id = await box.connect()
        await spare.register()
        spare_id = spare.credential.split(".")[1]

        listed = await xxci(server, "worker", "ls", "--format", "json")
        assert listed.exit_code == 0, listed.output
        doc = json.loads(listed.stdout)
        assert [(w["id"], w["name"], w["connected"], w["revoked_at"]) for w in doc["workers"]] == [
            (box_id, "box", True, None),
            (spare_id, "spare", False, None),
        ]
        assert doc["workers"][1]["last_seen_at"] is None  # never connected

        revoked = await xxci(server, "worker", "revoke", box_id)
        assert (revoked.exit_code, revoked.stderr) == (0, "")
        assert revoked.stdout == (
            f"worker {box_id} (box) revoked: it is disconnected, its jobs run again elsewhere,"
            " and it cannot connect until it registers again (xxci worker --register)\n"
        )
        assert await box.receive() is None, "its stream is closed at once"

    after = json.loads((await xxci(server, "worker", "ls", "--format", "json")).stdout)
    box_doc, spare_doc = after["workers"]
    assert (box_doc["connected"], box_doc["revoked_at"] is not None) == (False, True)
    text = await xxci(server, "worker", "ls")
    assert text.stdout.splitlines() == [
        "ID            NAME   STATE         REGISTERED           LAST SEEN",
        f"{box_id}  box    revoked       {local(box_doc['registered_at'])}"
        f"  {local(box_doc['last_seen_at'])}",
        f"{spare_id}  spare  disconnected  {local(spare_doc['registered_at'])}  never",
    ]

    twice = await xxci(server, "worker", "revoke", box_id)
    assert twice.exit_code == 1
    assert twice.stdout.startswith(f"worker {box_id} (box) was revoked already, at ")
    unknown = await xxci(server, "worker", "revoke", "nope")
    assert (unknown.exit_code, unknown.stdout) == (1, "")
    assert unknown.stderr == "error: no worker 'nope' (xxci worker ls lists them)\n"


async def test_worker_commands_need_the_server_s_token(server: OrchestratorServer) -> None:
    async with RawWorker(server.address, "box", token=TOKEN) as box:
        credential = await box.register()
    for token in ("wrong", credential):  # a worker's own credential is no client token
        result = await xxci(server, "worker", "ls", token=token)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: the orchestrator at {server.address} refused the token:"
            " missing or invalid token\n"
        )


async def test_the_shared_token_does_not_make_a_worker(server: OrchestratorServer) -> None:
    async with (
        RawWorker(server.address, "box", token=TOKEN) as box,
        RawWorker(server.address, "impostor", token=TOKEN) as impostor,
    ):
        victim = await box.connect()
        session = server.orchestrator.hub.session(victim)
        await impostor.hello(victim, bearer=TOKEN)
        assert await impostor.refused() == (
            grpc.StatusCode.UNAUTHENTICATED,
            "a worker connects with its own credential, not the shared token: register it first",
        )
        assert server.orchestrator.hub.session(victim) is session and session is not None
        assert not session.closed

    events = await xxci(server, "events", "--format", "json")
    refused = [
        json.loads(line)
        for line in events.stdout.splitlines()
        if json.loads(line)["type"] == "ConnectionRefused"
    ]
    assert [(e["stream"], e["data"]["presented"], e["data"]["name"]) for e in refused] == [
        (f"worker:{victim}", "no credential", "impostor")
    ]
