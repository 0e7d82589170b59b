"""What xxci's additions to the bare Docker calls cost the engine, one by one.

    .venv/bin/python benchmarks/engine_additions.py [--rounds 10] [--width 5]
        [--variants bare,copy,unpack]
    .venv/bin/python benchmarks/engine_additions.py --copy-cost [--rounds 6]

Each variant runs waves of ``--width`` jobs at once (``echo hello; true`` on the busybox
test image), the variants taking turns, the first of each round rotating. It prints
the median wall time of a wave and the CPU that ``dockerd`` and ``containerd`` used
per job (from ``/proc``, children included: the process dockerd re-executes to unpack
an archive copy is its child). Other users of the engine add to that CPU; the
interleaved rounds spread them over every variant.

Variants: ``bare`` is create, start, wait, remove (``bare_docker.py``); ``xxci`` adds
what every xxci job has (Docker's init, and the output attached before start);
``copy`` adds to that the workspace copied in by the engine (``PUT .../archive``);
``unpack`` adds instead the workspace bind-mounted read-only and unpacked by the
container's own ``tar`` (what ``xxci.worker.docker.unpack`` does).

``--copy-cost`` measures one call alone instead: into ten created (not started)
containers, one archive copy each, then one container inspect each, per round; the
engine's CPU and the wall time per call. Each round also idles as long as its copies
took, to see what the engine's other users spent meanwhile: that is subtracted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import aiodocker

IMAGE = "xxci-test/busybox:latest"
VARIANTS: dict[str, frozenset[str]] = {
    "bare": frozenset(),
    "xxci": frozenset({"init", "attach"}),
    "copy": frozenset({"init", "attach", "copy"}),
    "unpack": frozenset({"init", "attach", "unpack"}),
}


def workspace_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (
            ("workspace/.pipelines/a.yml", b"x" * 900),
            ("workspace/README", b"y\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def engine_pids() -> list[int]:
    found = subprocess.run(
        ["pgrep", "-x", "dockerd|containerd"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


def engine_cpu(pids: list[int]) -> float:
    """Seconds of CPU the engine's processes and their reaped children used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


async def job(docker: aiodocker.Docker, parts: frozenset[str], tar: bytes, mounted: Path) -> None:
    command = "echo hello; true"
    config: dict[str, Any] = {"Image": IMAGE, "WorkingDir": "/workspace", "HostConfig": {}}
    if "init" in parts:
        config["HostConfig"]["Init"] = True
    if "unpack" in parts:
        config["HostConfig"]["Mounts"] = [
            {"Type": "bind", "Source": str(mounted), "Target": "/.xxci/in/0.tar", "ReadOnly": True}
        ]
        command = f"tar -xf /.xxci/in/0.tar -C / && {command}"
    config["Cmd"] = ["sh", "-c", command]
    container = await docker.containers.create(config)
    try:
        if "copy" in parts:
            await container.put_archive("/", tar)  # type: ignore[no-untyped-call]
        if "attach" in parts:
            stream = container.attach(stdout=True, stderr=True, logs=False)
            async with stream:
                await container.start()
                while await stream.read_out() is not None:
                    pass
        else:
            await container.start()
        await container.wait()
    finally:
        await container.delete(force=True, v=True)


async def main(rounds: int, width: int, names: list[str]) -> None:
    tar = workspace_tar()
    pids = engine_pids()
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        mounted = Path(tmp) / "workspace.tar"
        mounted.write_bytes(tar)
        docker = aiodocker.Docker()
        try:
            await asyncio.gather(
                *(job(docker, VARIANTS["bare"], tar, mounted) for _ in range(width))
            )
            for index in range(rounds):
                shift = index % len(names)
                for name in names[shift:] + names[:shift]:
                    began, cpu = time.perf_counter(), engine_cpu(pids)
                    await asyncio.gather(
                        *(job(docker, VARIANTS[name], tar, mounted) for _ in range(width))
                    )
                    walls[name].append(time.perf_counter() - began)
                    cpus[name].append((engine_cpu(pids) - cpu) / width)
        finally:
            await docker.close()
    base = statistics.median(walls[names[0]])
    print(f"{rounds} rounds of waves of {width} jobs; medians")
    for name in names:
        wall = statistics.median(walls[name])
        rounds_cpu = " ".join(f"{x * 1000:.0f}" for x in cpus[name])
        print(
            f"  {name:<7} wave {wall * 1000:6.0f} ms  x{wall / base:.2f}  "
            f"engine CPU/job {statistics.median(cpus[name]) * 1000:4.0f} ms  ({rounds_cpu})"
        )


async def copy_cost(rounds: int) -> None:
    tar = workspace_tar()
    pids = engine_pids()
    per_call: dict[str, list[tuple[float, float]]] = {
        "archive copy": [],
        "inspect": [],
        "(idle)": [],
    }
    docker = aiodocker.Docker()
    config = {"Image": IMAGE, "Cmd": ["true"], "WorkingDir": "/workspace"}
    containers = [await docker.containers.create(config) for _ in range(10)]
    try:
        for _ in range(rounds):
            for name, results in per_call.items():
                began, cpu = time.perf_counter(), engine_cpu(pids)
                if name == "(idle)":  # as long as this round's copies took
                    await asyncio.sleep(per_call["archive copy"][-1][1] * len(containers))
                for container in containers:
                    if name == "inspect":
                        await container.show()
                    elif name == "archive copy":
                        await container.put_archive("/", tar)  # type: ignore[no-untyped-call]
                wall = (time.perf_counter() - began) / len(containers)
                results.append(((engine_cpu(pids) - cpu) / len(containers), wall))
    finally:
        for container in containers:
            await container.delete(force=True)
        await docker.close()
    print(f"{rounds} rounds of 10 calls; medians per call")
    others = [idle[0] for idle in per_call.pop("(idle)")]
    for name, results in per_call.items():
        cpu_ms = statistics.median(r[0] for r in results) * 1000
        wall_ms = statistics.median(r[1] for r in results) * 1000
        print(f"  {name:<12} engine CPU {cpu_ms:5.1f} ms  wall {wall_ms:6.1f} ms")
    copies = [r[0] for r in per_call["archive copy"]]
    net = statistics.median(c - o for c, o in zip(copies, others, strict=True)) * 1000
    print(f"  archive copy, less what other users spent in as long: {net:5.1f} ms of CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--width", type=int, default=5)
    parser.add_argument("--variants", default="bare,xxci,copy,unpack")
    parser.add_argument("--copy-cost", action="store_true", help="time one archive copy")
    args = parser.parse_args()
    if args.copy_cost:
        asyncio.run(copy_cost(args.rounds))
    else:
        asyncio.run(main(args.rounds, args.width, args.variants.split(",")))
