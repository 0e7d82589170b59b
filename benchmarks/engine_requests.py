"""The Docker engine API requests an xxci command makes, counted by endpoint.

    .venv/bin/python benchmarks/engine_requests.py run --local --pipeline NAME

Runs the ``xxci`` command given (in this process, from the current folder) with
aiodocker's query function counting every request, then prints the counts by method
and endpoint (container IDs and image names folded) and their total. The bare script
(``bare_docker.py``) makes four per job: create, start, wait, delete.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

import aiodocker.docker

REQUESTS: Counter[str] = Counter()


def endpoint(method: str, path: object) -> str:
    text = str(path).split("?")[0]
    text = re.sub(r"containers/[0-9a-f]{12,}", "containers/{id}", text)
    text = re.sub(r"images/.+/json$", "images/{name}/json", text)
    return f"{method} {text}"


def count_requests() -> None:
    query = aiodocker.docker.Docker._do_query

    async def counted(self: aiodocker.Docker, path: Any, method: str, **kwargs: Any) -> Any:
        REQUESTS[endpoint(method, path)] += 1
        return await query(self, path, method, **kwargs)

    aiodocker.docker.Docker._do_query = counted  # type: ignore[method-assign]


def report() -> None:
    for name, count in sorted(REQUESTS.items()):
        print(f"{count:5d}  {name}", file=sys.stderr)
    print(f"{sum(REQUESTS.values()):5d}  in all", file=sys.stderr)


if __name__ == "__main__":
    from xxci.cli.main import main

    count_requests()
    sys.argv = ["xxci", *sys.argv[1:]]
    try:
        main()
    finally:
        report()
