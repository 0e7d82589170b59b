"""Taking a job's artifacts out of its stopped container, as one archive.

Which files are wanted is :mod:`xxci.worker.docker.artifacts`' business; this module
fetches the fewest paths that hold them with the archive API and writes the selection.
"""

from __future__ import annotations

import asyncio
import tarfile
from dataclasses import replace
from pathlib import Path

from xxci.worker.docker.artifacts import (
    ArtifactPattern,
    InvalidPattern,
    Selection,
    write_selection,
)
from xxci.worker.docker.container_config import WORKSPACE
from xxci.worker.docker.engine import Container
from xxci.worker.docker.output import SerialListener
from xxci.worker.executor import Assignment, ExecutionResult, Workspace

__all__ = ["source_paths", "with_artifacts"]


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
    ``listener``. ``untracked`` files are those not in ``workspace``'s source tree."""
    if not job.collects_artifacts(result.status):
        return result
    patterns = await _parsed(job.artifact_paths, listener)
    exclude = await _parsed(job.artifact_exclude, listener)
    tracked = None
    if job.artifact_untracked:
        tracked = await asyncio.to_thread(source_paths, workspace.source)
    if not patterns and tracked is None:
        return result
    dest, count = await _collect(container, Selection(patterns, exclude, tracked), directory)
    if dest is None:
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


async def _collect(
    container: Container, selection: Selection, directory: Path | None
) -> tuple[Path | None, int]:
    """The workspace files ``selection`` wants, as an archive in ``directory`` (None if
    nothing matched), and how many entries it holds."""
    archives: list[tuple[str, tarfile.TarFile]] = []
    try:
        for root in selection.roots():
            archive = await container.get_archive(f"{WORKSPACE}/{root}" if root else WORKSPACE)
            if archive is not None:
                archives.append((root, archive))
        return await asyncio.to_thread(write_selection, archives, selection, directory)
    finally:
        for _, archive in archives:
            archive.close()
