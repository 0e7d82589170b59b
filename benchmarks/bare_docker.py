"""The bare limit: only the Docker calls a job needs, nothing else.

    .venv/bin/python benchmarks/bare_docker.py PLAN.json

PLAN.json is ``{"image": IMAGE, "waves": [[COMMAND, ...], ...]}`` (see
``runner_pipelines.Pipeline.bare_plan``). Each wave's jobs run at once; each job is
create, start, wait and remove of one container running ``sh -c COMMAND``. Exits 1 if
a job's command fails.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiodocker


async def job(docker: aiodocker.Docker, image: str, command: str) -> int:
    config: dict[str, Any] = {"Image": image, "Cmd": ["sh", "-c", command]}
    container = await docker.containers.create(config)
    try:
        await container.start()
        result = await container.wait()
        return int(result.get("StatusCode", -1))
    finally:
        await container.delete(force=True)


async def main(plan: dict[str, Any]) -> int:
    docker = aiodocker.Docker()
    try:
        for wave in plan["waves"]:
            codes = await asyncio.gather(*(job(docker, plan["image"], c) for c in wave))
            if any(codes):
                return 1
    finally:
        await docker.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PLAN.json")
    sys.exit(asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()))))
