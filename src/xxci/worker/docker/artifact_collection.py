"""Taking a job's artifacts out of its stopped container, as one archive.

Which files are wanted is :mod:`xxci.worker.docker.artifacts`' business; this module
fetches the fewest paths that hold them with the archive API, streamed, and writes the
selection, up to the job's artifact limit.
"""

from __future__ import annotations

import asyncio
import functools
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import IO

from xxci.common.chunk_pipe import read_in_thread
from xxci.common.spec.limits import describe_size
from xxci.worker.docker.artifacts import (
    ArtifactPattern,
    Collection,
    InvalidPattern,
    Selection,
)
from xxci.worker.docker.container_config import WORKSPACE
from xxci.worker.docker.engine import Container
from xxci.worker.docker.output import SerialListener
from xxci.worker.executor import Assignment, ExecutionResult, Workspace

__all__ = ["collect", "source_paths", "with_artifacts"]


async def with_artifacts(
    container: Container,
    job: Assignment,
    result: ExecutionResult,
    listener: SerialListener,
    directory: Path | None,
    workspace: Workspace,
) -> ExecutionResult:
    """``result`` with the archive of ``job``'s artifacts in ``directory``, when the job
    collects any for ``result`` and some file matched; notes for the log go to
    ``listener``. ``untracked`` files are those not in ``workspace``'s source tree. At
    most ``job.artifact_limit`` bytes of files are kept; past them the rest is left
    out, the log says so and the result is marked ``artifacts_cut``."""
    if not job.collects_artifacts(result.status):
        return result
    patterns = await _parsed(job.artifact_paths, listener)
    exclude = await _parsed(job.artifact_exclude, listener)
    tracked = None
    if job.artifact_untracked:
        tracked = await asyncio.to_thread(source_paths, workspace.source)
    if not patterns and tracked is None:
        return result
    selection = Selection(patterns, exclude, tracked)
    dest, count, cut = await collect(container, selection, directory, job.artifact_limit)
    if cut:
        limit = describe_size(job.artifact_limit or 0)
        await listener.system(
            f"artifacts: cut at the limit of {limit}: the files after the first "
            f"{count} entries were left out"
        )
        result = replace(result, artifacts_cut=True)
    if dest is None:
        if not cut:
            wanted = [*job.artifact_paths, *(["untracked files"] if tracked is not None else [])]
            await listener.system(f"artifacts: no files matched {', '.join(wanted)}")
        return result
    await listener.system(f"artifacts: collected {count} entries")
    return replace(result, artifacts=dest)


async def _parsed(texts: tuple[str, ...], listener: SerialListener) -> tuple[ArtifactPattern, ...]:
    patterns = []
    for text in texts:
        try:
            patterns.append(ArtifactPattern.parse(text))
        except InvalidPattern as exc:
            await listener.system(f"artifacts: {exc}; ignored")
    return tuple(patterns)


def source_paths(source: Path | None) -> frozenset[str]:
    """The paths of the source tree archive (relative to ``/workspace``)."""
    if source is None:
        return frozenset()
    with tarfile.open(source) as tar:
        return frozenset(m.name.removeprefix("./").strip("/") for m in tar)


async def collect(
    container: Container, selection: Selection, directory: Path | None, limit: int | None
) -> tuple[Path | None, int, bool]:
    """The workspace files ``selection`` wants, as an archive in ``directory`` (None if
    nothing was kept), how many entries it holds, and whether the limit cut it.

    Each fetched path streams from the engine through a tar reader in a thread: only
    what is kept touches the disk, and nothing is held whole in memory.
    """
    collection = await asyncio.to_thread(Collection, selection, directory, limit)
    try:
        for root in selection.roots():
            async with container.archive_chunks(
                f"{WORKSPACE}/{root}" if root else WORKSPACE
            ) as chunks:
                if chunks is not None:
                    await read_in_thread(chunks, functools.partial(_select, collection, root))
            if collection.cut:
                break
        dest, count = await asyncio.to_thread(collection.finish)
    except BaseException:
        await asyncio.to_thread(collection.discard)
        raise
    return dest, count, collection.cut


def _select(collection: Collection, root: str, stream: IO[bytes]) -> None:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        collection.add(root, archive)
