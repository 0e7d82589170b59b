"""How responsive a server stays while it reads hostile pipeline files (a script that
prints numbers).

    .venv/bin/python benchmarks/hostile_pipeline.py [--seconds 0.05]

Starts a real ``xxci server`` process (its own data dir, loopback, a token). For each
hostile shape below, a client process submits a file of that shape while this script
asks the server for its status (``GetStatus``, the call behind ``xxci status``) every
``--seconds``; it prints the status latency (median, 95th percentile, max) during the
read, the server's answer to the submitter and how long it took. A baseline with no
submission comes first.

Shapes, each at most 2 MiB (the default file limit): a 2 MiB comment after a value,
a 2 MiB block of comment lines, a 2 MiB flow list (more than the reader's CPU
budget), a million nested brackets, 1,000 jobs each needing all earlier ones, and
lone surrogates. Target: status under 50 ms while any of them is read.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import TOKEN, Cluster, free_port
from xxci.cli.client.remote import GrpcClient

HEAD = "pipeline: {name: hostile}\nstages: [build]\njobs:\n"
JOB = "  - name: j{i}\n    stage: build\n    image: busybox\n    script: [echo]\n"
MIB2 = 2 * 1024 * 1024 - 512


def needing(i: int) -> str:
    earlier = ", ".join(f"j{k}" for k in range(max(0, i - 60), i))
    return JOB.format(i=i) + (f"    needs: [{earlier}]\n" if earlier else "")


def shapes() -> dict[str, str]:
    line = "# " + "c" * 70 + "\n"
    return {
        "2 MiB comment after a value": HEAD.replace("hostile}", "hostile} # " + "c" * MIB2),
        "2 MiB of comment lines": HEAD + line * (MIB2 // len(line)) + JOB.format(i=0),
        "2 MiB flow list": HEAD + JOB.format(i=0) + "    tags: [" + "x, " * (MIB2 // 3) + "x]\n",
        "1M nested brackets": HEAD + JOB.format(i=0) + "    tags: " + "[" * 1_000_000 + "\n",
        "1,000 jobs needing all earlier": HEAD
        + "".join(
            JOB.format(i=i)
            + f"    needs: [{', '.join(f'j{k}' for k in range(max(0, i - 60), i))}]\n"
            for i in range(1000)
        )[:MIB2],
        "lone surrogates": HEAD
        + "".join(JOB.format(i=i).replace(f"j{i}", f'"j{i}\\ud83d"') for i in range(1000)),
    }


SUBMITTER = """
import asyncio, sys, time
from xxci.cli.client.remote import GrpcClient
from xxci.common.api import Submission
from xxci.common.errors import XxciError

async def main() -> None:
    text = open(sys.argv[3]).read()
    async with GrpcClient(sys.argv[1], sys.argv[2]) as client:
        start = time.perf_counter()
        try:
            await client.submit(Submission("hostile.yml", text))
            answer = "accepted"
        except XxciError as error:
            lines = str(error).splitlines()
            answer = lines[0] + (f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else "")
        print(f"{time.perf_counter() - start:.1f}s {answer}")

asyncio.run(main())
"""


async def latencies(
    cluster: Cluster, every: float, until: subprocess.Popen[str] | None
) -> list[float]:
    found: list[float] = []
    async with GrpcClient(cluster.address, TOKEN) as client:
        deadline = time.monotonic() + 3
        while (until.poll() is None) if until is not None else time.monotonic() < deadline:
            start = time.perf_counter()
            await client.status()
            found.append(time.perf_counter() - start)
            await asyncio.sleep(every)
    return found


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    median = statistics.median(ms)
    return (
        f"status n={len(ms):4d}  median {median:6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.05, help="between status calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xxci-bench-") as tmp_name:
        tmp = Path(tmp_name)
        cluster = Cluster(tmp=tmp, port=free_port(), data_dir=tmp / "data")
        cluster.start_server()
        try:
            baseline = asyncio.run(latencies(cluster, args.seconds, None))
            print(f"{'baseline (no submission)':34s} {summary(baseline)}")
            for name, text in shapes().items():
                path = tmp / "hostile.yml"
                path.write_text(text, encoding="utf-8", errors="surrogatepass")
                size = len(text.encode("utf-8", "surrogatepass"))
                submitter = subprocess.Popen(
                    [sys.executable, "-c", SUBMITTER, cluster.address, TOKEN, str(path)],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=cluster.env,
                )
                during = asyncio.run(latencies(cluster, args.seconds, submitter))
                answer = submitter.communicate()[0].strip()
                print(f"{name:34s} {summary(during)}")
                print(f"{'':34s} {size / 2**20:.2f} MiB -> {answer[:150]}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
