"""Taking a job's caches out of its stopped container, one archive per cache.

A cache is saved when its ``policy`` pushes and its ``when`` takes the job's result
(a canceled job saves none). ``paths`` select as artifact paths do; ``untracked``
adds every workspace file that is not in the source tree.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from xxci.common.spec.services_cache import Cache, CachePolicy, CacheWhen
from xxci.common.status import JobStatus
from xxci.worker.docker.artifact_collection import collect, source_paths
from xxci.worker.docker.artifacts import ArtifactPattern, InvalidPattern, Selection
from xxci.worker.docker.engine import Container
from xxci.worker.docker.output import SerialListener
from xxci.worker.executor import Assignment, ExecutionResult, Workspace

__all__ = ["saves", "with_caches"]


def saves(cache: Cache, status: JobStatus) -> bool:
    """Whether a job that ended ``status`` saves ``cache``."""
    if cache.policy is CachePolicy.PULL or status is JobStatus.CANCELED:
        return False
    if cache.when is CacheWhen.ALWAYS:
        return True
    if cache.when is CacheWhen.ON_FAILURE:
        return status is JobStatus.FAILED
    return status is JobStatus.SUCCESS


async def with_caches(
    container: Container,
    job: Assignment,
    workspace: Workspace,
    result: ExecutionResult,
    listener: SerialListener,
    directory: Path | None,
) -> ExecutionResult:
    """``result`` with the archive of each cache ``job`` saves for it."""
    archives: dict[int, Path] = {}
    tracked: frozenset[str] | None = None
    for number, cache in enumerate(job.caches):
        if not saves(cache, result.status):
            continue
        patterns: list[ArtifactPattern] = []
        for text in cache.paths:
            try:
                patterns.append(ArtifactPattern.parse(text))
            except InvalidPattern as exc:
                await listener.system(f"cache: {exc}; ignored")
        untracked: frozenset[str] | None = None
        if cache.untracked:
            if tracked is None:
                tracked = await asyncio.to_thread(source_paths, workspace.source)
            untracked = tracked
        if not patterns and untracked is None:
            continue
        dest, _, _ = await collect(
            container, Selection(tuple(patterns), (), untracked), directory, None
        )
        if dest is None:
            wanted = [*cache.paths, *(["untracked files"] if untracked is not None else [])]
            await listener.system(f"cache: no files matched {', '.join(wanted)}; not saved")
            continue
        archives[number] = dest
    return replace(result, caches=archives) if archives else result
