"""``xxci server`` turns its flags into the orchestrator's settings, or refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

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
