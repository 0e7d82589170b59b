"""``xxci server`` turns its flags into the orchestrator's settings, or refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from xxci.cli.commands.server import exposed_without_auth
from xxci.cli.main import cli


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lease-ttl", "0"], "lease ttl must be more than 0, not 0"),
        (["--heartbeat", "-5"], "heartbeat interval must be more than 0, not -5"),
        (["--cancel-grace", "-1"], "cancel grace must be at least 0, not -1"),
        (["--disconnect-grace", "-2"], "disconnect grace must be at least 0, not -2"),
    ],
)
async def test_settings_that_make_no_sense_are_usage_errors(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    data_dir = tmp_path / "data"
    args = ["server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *flags]
    result = await CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("flags", "exposed"),
    [
        (["--listen", "0.0.0.0:0"], "0.0.0.0:0"),
        (["--listen", "[::]:0"], "[::]:0"),
        (["--listen", "ci.example.com:0"], "ci.example.com:0"),
        (["--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"], "0.0.0.0:0"),
        (["--listen", "0.0.0.0:0", "--http", "10.1.2.3:0"], "0.0.0.0:0, 10.1.2.3:0"),
    ],
)
async def test_a_reachable_address_without_a_token_is_refused(
    tmp_path: Path, flags: list[str], exposed: str
) -> None:
    data_dir = tmp_path / "data"
    args = ["server", "--data-dir", str(data_dir), *flags]
    result = await CliRunner().invoke(cli, args, env={"XXCI_TOKEN": None, "XXCI_LISTEN": None})
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: refusing to serve {exposed} without a token (anyone who can reach it could"
        " run jobs and read every log): pass --token or set XXCI_TOKEN, listen on a loopback"
        " address, or pass --insecure-no-auth\n"
    )
    assert not data_dir.exists()


async def test_the_default_address_is_refused_without_a_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"XXCI_TOKEN": None, "XXCI_LISTEN": None, "XXCI_HTTP": None}
    result = await CliRunner().invoke(cli, ["server", "--data-dir", str(data_dir)], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refusing to serve 0.0.0.0:7420 without a token")


@pytest.mark.parametrize(
    ("listen", "http", "token", "exposed"),
    [
        ("127.0.0.1:7420", None, None, []),
        ("localhost:7420", "[::1]:7421", None, []),
        ("0.0.0.0:7420", "0.0.0.0:7421", "s3cret", []),
        ("192.168.1.5:7420", None, "", ["192.168.1.5:7420"]),
    ],
)
def test_which_addresses_are_exposed(
    listen: str, http: str | None, token: str | None, exposed: list[str]
) -> None:
    assert exposed_without_auth(listen, http, token) == exposed
