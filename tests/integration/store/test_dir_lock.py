"""The data directory's lock: one holder, who it is and where it listens, and what a
holder that died leaves behind (real files, real flock, real processes)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from xxci.orchestrator.store.dir_lock import (
    ENDPOINT_FILE,
    LOCK_FILE,
    DataDirInUse,
    DataDirLock,
    Endpoint,
    Holder,
    read_holder,
)

pytestmark = pytest.mark.timeout(30)

HOLD = """
import sys
from pathlib import Path
from xxci.orchestrator.store.dir_lock import DataDirLock
lock = DataDirLock.acquire(Path(sys.argv[1]))
if sys.argv[2]:
    lock.publish(sys.argv[2], local=True, token="t0ken")
print("held", flush=True)
sys.stdin.read()
"""


def holder_process(data_dir: Path, address: str = "") -> subprocess.Popen[str]:
    """Another process that takes the lock (and publishes ``address``), then waits."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "held\n"
    return process


def test_one_holder_at_a_time_in_one_process(tmp_path: Path) -> None:
    lock = DataDirLock.acquire(tmp_path / "data")
    with pytest.raises(DataDirInUse) as refused:
        DataDirLock.acquire(tmp_path / "data")
    assert str(refused.value) == (
        f"{tmp_path / 'data'} is in use by another orchestrator"
        f" (pid {os.getpid()}, not listening yet)"
    )
    lock.release()
    lock.release()  # twice is fine
    DataDirLock.acquire(tmp_path / "data").release()


def test_the_endpoint_names_the_holder_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    lock = DataDirLock.acquire(tmp_path)
    lock.publish("127.0.0.1:4242", local=True, token="s3cret")
    path = tmp_path / ENDPOINT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    holder = read_holder(tmp_path)
    assert holder == Holder(os.getpid(), Endpoint(os.getpid(), "127.0.0.1:4242", True, "s3cret"))
    assert holder.describe() == (
        f"pid {os.getpid()}, a local orchestrator listening on 127.0.0.1:4242"
    )
    lock.release()
    assert not path.exists(), "a holder that stops withdraws its endpoint"
    assert read_holder(tmp_path) is None


def test_a_server_publishes_no_token(tmp_path: Path) -> None:
    lock = DataDirLock.acquire(tmp_path)
    lock.publish("127.0.0.1:7420", local=False, token="s3cret")
    assert json.loads((tmp_path / ENDPOINT_FILE).read_text())["token"] == ""
    with pytest.raises(DataDirInUse) as refused:
        DataDirLock.acquire(tmp_path)
    assert refused.value.holder.describe() == (
        f"pid {os.getpid()}, xxci server listening on 127.0.0.1:7420"
    )
    lock.release()


def test_another_process_holding_is_named(tmp_path: Path) -> None:
    holder = holder_process(tmp_path, "127.0.0.1:5555")
    try:
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock.acquire(tmp_path)
        assert refused.value.holder == Holder(
            holder.pid, Endpoint(holder.pid, "127.0.0.1:5555", True, "t0ken")
        )
    finally:
        holder.communicate("")  # let it end
    assert read_holder(tmp_path) is None, "the lock goes with the process"


def test_a_killed_holder_leaves_a_stale_endpoint_that_misleads_nobody(tmp_path: Path) -> None:
    holder = holder_process(tmp_path, "127.0.0.1:5555")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / ENDPOINT_FILE).exists(), "a kill -9 skips every clean-up"
    assert read_holder(tmp_path) is None, "the lock, not the file, says who holds it"
    lock = DataDirLock.acquire(tmp_path)
    assert not (tmp_path / ENDPOINT_FILE).exists(), "the next holder removes it at once"
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    lock.release()


def test_an_endpoint_of_another_pid_is_not_the_holder_s(tmp_path: Path) -> None:
    """A holder that has not published yet, next to a file a dead one left."""
    holder = holder_process(tmp_path)
    try:
        stale = {"pid": 1, "address": "127.0.0.1:1", "local": True, "token": "old"}
        (tmp_path / ENDPOINT_FILE).write_text(json.dumps(stale))
        assert read_holder(tmp_path) == Holder(holder.pid, None)
    finally:
        holder.communicate("")
