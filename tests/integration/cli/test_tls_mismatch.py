"""TLS on one end and not the other, both ways round: the CLI says so in one line, and a
worker gives up (retrying cannot help) with the same words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from tests.fakes.executor import FakeExecutor
from tests.integration.worker.test_worker_tls import self_signed
from xxci.cli.main import cli
from xxci.common.errors import TlsError
from xxci.orchestrator.rpc.server import OrchestratorServer
from xxci.orchestrator.runtime.orchestrator import Orchestrator
from xxci.worker.connection.agent import WorkerAgent

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return await asyncio.to_thread(self_signed, tmp_path)


async def serve(tmp_path: Path, tls: tuple[Path, Path] | None) -> OrchestratorServer:
    orchestrator = Orchestrator(tmp_path / ("tls" if tls else "plain"))
    key, cert = tls if tls else (None, None)
    server = OrchestratorServer(orchestrator, "127.0.0.1:0", tls_cert=cert, tls_key=key)
    await server.start()
    return server


@pytest.fixture
async def tls_server(tmp_path: Path, certificate: tuple[Path, Path]) -> AsyncIterator[str]:
    server = await serve(tmp_path, certificate)
    yield f"127.0.0.1:{server.port}"
    await server.stop(grace=0)


@pytest.fixture
async def plain_server(tmp_path: Path) -> AsyncIterator[str]:
    server = await serve(tmp_path, None)
    yield f"127.0.0.1:{server.port}"
    await server.stop(grace=0)


SPEAKS_TLS = (
    "the orchestrator at {} speaks TLS: pass --tls-ca with the CA certificate that signed "
    "its certificate"
)
NO_TLS = (
    "the orchestrator at {} does not speak TLS: leave out --tls-ca (or start it with "
    "--tls-cert and --tls-key)"
)


async def test_a_plaintext_client_of_a_tls_orchestrator_is_told_to_use_tls(
    tls_server: str,
) -> None:
    result = await CliRunner().invoke(cli, ["status", "--server", tls_server])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {SPEAKS_TLS.format(tls_server)}\n"


async def test_a_tls_client_of_a_plaintext_orchestrator_is_told_to_drop_tls(
    plain_server: str, certificate: tuple[Path, Path]
) -> None:
    cert = str(certificate[1])
    result = await CliRunner().invoke(cli, ["status", "--server", plain_server, "--tls-ca", cert])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {NO_TLS.format(plain_server)}\n"


async def test_a_certificate_the_ca_does_not_sign_is_refused_in_one_line(
    tls_server: str, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    _, other_ca = await asyncio.to_thread(self_signed, tmp_path / "other")
    result = await CliRunner().invoke(
        cli, ["status", "--server", tls_server, "--tls-ca", str(other_ca)]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the orchestrator at {tls_server} has a certificate that --tls-ca does not"
        " vouch for (self signed certificate)\n"
    )


async def test_the_orchestrator_being_away_is_not_a_tls_problem(tmp_path: Path) -> None:
    server = await serve(tmp_path, None)
    address = f"127.0.0.1:{server.port}"
    await server.stop(grace=0)
    result = await CliRunner().invoke(cli, ["status", "--server", address])
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: cannot reach the orchestrator at {address}: connection refused\n"
    )


def agent(target: str, tmp_path: Path, tls_ca: Path | None) -> WorkerAgent:
    return WorkerAgent(target, None, "w1", 1, [], FakeExecutor(), tmp_path / "work", tls_ca=tls_ca)


async def test_a_plaintext_worker_of_a_tls_orchestrator_gives_up_saying_why(
    tls_server: str, tmp_path: Path
) -> None:
    with pytest.raises(TlsError) as raised:
        async with asyncio.timeout(10):
            await agent(tls_server, tmp_path, None).run()
    assert str(raised.value) == SPEAKS_TLS.format(tls_server)


async def test_a_tls_worker_of_a_plaintext_orchestrator_gives_up_saying_why(
    plain_server: str, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    with pytest.raises(TlsError) as raised:
        async with asyncio.timeout(10):
            await agent(plain_server, tmp_path, certificate[1]).run()
    assert str(raised.value) == NO_TLS.format(plain_server)
