"""``--local`` from several terminals: real ``xxci`` processes sharing ``$XXCI_HOME``,
jobs in Docker.

The first ``run --local`` runs the orchestrator; a second one submits to it and brings
its own worker; a third process cancels through it. The first one, done with its own
run, keeps serving until the second one's worker has gone.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cluster import XXCI, Cluster, make_repo

IMAGE = "xxci-test/busybox:latest"

# Runs until canceled; the trap makes SIGTERM end it at once instead of after the grace.
HELD = """
pipeline: {{name: {name}}}
stages: [test]
default: {{image: {image}}}
jobs:
  - {{name: hold, stage: test, script: ["trap 'exit 1' TERM; while true; do sleep 0.2; done"]}}
"""

pytestmark = pytest.mark.timeout(120)


def line_with(stream: object, text: str) -> str:
    """The first line of ``stream`` (a text pipe) holding ``text``."""
    assert hasattr(stream, "readline")
    while True:
        line: str = stream.readline()
        assert line, f"the stream ended before {text!r}"
        if text in line:
            return line


def test_local_runs_share_one_orchestrator(tmp_path: Path, docker_image: str) -> None:
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    pipelines = {f"{name}.yml": HELD.format(name=name, image=IMAGE) for name in ("one", "two")}
    repo = make_repo(tmp_path / "repo", pipelines)
    host = socket.gethostname()

    first = cluster.popen("run", "--local", "--pipeline", "one", cwd=repo)
    second: subprocess.Popen[str] | None = None
    try:
        assert line_with(first.stdout, "hold: RUNNING on").rstrip().endswith(f"on local@{host}")
        second = cluster.popen("run", "--local", "--pipeline", "two", cwd=repo)
        # The first process's worker is busy (one slot: the widest wave is one job), so
        # the job of the second run goes to the second process's own worker.
        running = line_with(second.stdout, "hold: RUNNING on").rstrip()
        assert running.endswith(f"on local@{host}/{second.pid}")

        canceled = cluster.xxci("cancel", "--local", "one#1", cwd=repo)
        assert (canceled.returncode, canceled.stdout) == (0, "cancel requested for run of one #1\n")
        line_with(first.stdout, "pipeline one #1 CANCELED")
        waiting = line_with(first.stderr, "keeping the local orchestrator up")
        assert waiting == (
            "keeping the local orchestrator up for the worker of another xxci process"
            f" (local@{host}/{second.pid}); interrupt to stop it anyway\n"
        )
        assert first.poll() is None, "the second run still needs it"

        canceled = cluster.xxci("cancel", "--local", "two#1", cwd=repo)
        assert canceled.returncode == 0, canceled.stderr
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1, out + err
        assert "pipeline two #1 CANCELED" in out
        first.communicate(timeout=60)
        assert first.returncode == 1
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()

    listing = cluster.xxci("report", "--local", cwd=repo)
    assert listing.returncode == 0, listing.stderr
    assert [line.split()[:5:4] for line in listing.stdout.splitlines()[1:]] == [
        ["one", "CANCELED"],
        ["two", "CANCELED"],
    ]


def test_sigterm_ends_a_local_run_as_ctrl_c_does(tmp_path: Path, docker_image: str) -> None:
    """``timeout``, a supervisor or a closing session stop ``run --local`` with SIGTERM:
    its run is canceled, its container stopped, and nothing is left in the temp folder."""
    cluster = Cluster(tmp=tmp_path, port=0, data_dir=tmp_path / "unused")
    repo = make_repo(tmp_path / "repo", {"one.yml": HELD.format(name="one", image=IMAGE)})
    temp = tmp_path / "temp"
    temp.mkdir()
    process = subprocess.Popen(
        [*XXCI, "run", "--local", "--pipeline", "one"],
        cwd=repo,
        env={**cluster.env, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line_with(process.stdout, "hold: RUNNING on")
        assert list(temp.iterdir()) != [], "the run works in the temp folder"
        process.terminate()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, out + err
    assert "canceling the run (interrupt again to stop waiting)..." in out
    assert "pipeline one #1 CANCELED" in out
    assert list(temp.iterdir()) == []
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=xxci.worker.pid={process.pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout == ""
