"""``xxci server --insecure-no-auth`` as a real process: it serves, and says so."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cluster import XXCI, free_port

pytestmark = pytest.mark.timeout(60)


def test_serving_a_reachable_address_without_a_token_takes_a_flag_and_warns(
    tmp_path: Path,
) -> None:
    port, data = free_port(), tmp_path / "d"
    listen = f"0.0.0.0:{port}"
    proc = subprocess.Popen(
        [*XXCI, "server", "--listen", listen, "--data-dir", str(data), "--insecure-no-auth"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once it listens
        assert first == f"xxci orchestrator listening on {listen} (port {port}), data in {data}\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert stderr.splitlines()[0] == (
        f"warning: serving 0.0.0.0:{port} without a token (--insecure-no-auth): anyone who"
        " can reach it can run jobs, read every log and register workers"
    )
