"""How much memory a worker and the server need to move a large artifact (a script that
prints numbers).

    .venv/bin/python benchmarks/artifact_memory.py [--gib 1]

Starts a real ``xxci server`` and one ``xxci worker`` (separate processes, loopback,
jobs in the local Docker engine with the test image) and runs a pipeline whose job
writes ``--gib`` GiB of random bytes to ``big.bin`` and keeps it as its artifact. The
worker streams it out of the container into the artifact archive, uploads it to the
server's blob store, and a second job downloads and unpacks it into its workspace.

It prints each process's peak resident memory (``VmHWM`` of ``/proc/PID/status``)
before the run and after it, and how long the run took. Target: the worker's peak
under 100 MiB whatever the artifact's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Cluster, free_port, make_repo

PIPELINE = """
pipeline: {{name: big}}
stages: [build, use]
default: {{image: xxci-test/busybox:latest, timeout: 30m}}
jobs:
  - name: make
    stage: build
    script: ["head -c {size} /dev/urandom > big.bin"]
    artifacts: {{paths: [big.bin]}}
  - name: use
    stage: use
    script: ["ls -l big.bin"]
"""


def peak_mib(pid: int) -> float:
    """The process's peak resident set so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="artifact size in GiB")
    args = parser.parse_args()
    size = int(args.gib * 1024**3)
    with tempfile.TemporaryDirectory(prefix="xxci-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cluster = Cluster(
            tmp=tmp,
            port=free_port(),
            data_dir=tmp / "data",
            server_args=("--max-artifacts", str(2 * size), "--max-upload", str(2 * size)),
        )
        repo = make_repo(tmp / "repo", {"big.yml": PIPELINE.format(size=size)})
        cluster.start_server()
        try:
            cluster.start_worker("w1", capacity=1)
            cluster.wait_workers(1)
            assert cluster.server is not None
            server, worker = cluster.server.pid, cluster.workers[0].pid
            before = peak_mib(server), peak_mib(worker)
            start = time.perf_counter()
            run = cluster.xxci("run", "--pipeline", "big", cwd=repo, timeout=3600)
            took = time.perf_counter() - start
            after = peak_mib(server), peak_mib(worker)
        finally:
            cluster.stop()
        status = "SUCCESS" if run.returncode == 0 else f"FAILED:\n{run.stdout}{run.stderr}"
        print(f"artifact: {size / 2**30:.2f} GiB of random bytes; run {status} in {took:.1f} s")
        print(f"{'':8s} {'peak RSS before':>16s} {'peak RSS after':>16s}")
        for name, was, now in (("server", before[0], after[0]), ("worker", before[1], after[1])):
            print(f"{name:8s} {was:13.1f} MiB {now:13.1f} MiB")


if __name__ == "__main__":
    main()
