"""Taking a job's artifacts out of its stopped container, as one archive.

Which files are wanted is :mod:`xxci.worker.docker.artifacts`' business; this module
fetches the fewest paths that hold them with the archive API and writes the selection.
"""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from xxci.worker.docker.artifacts import (
    ArtifactPattern,
    InvalidPattern,
    fetch_roots,
    write_selection,
)
from xxci.worker.docker.container_config import WORKSPACE
from xxci.worker.docker.engine import Container
from xxci.worker.docker.output import SerialListener
from xxci.worker.executor import Assignment, ExecutionResult

__all__ = ["with_artifacts"]


async def with_artifacts(
    container: Container,
    job: Assignment,
    result: ExecutionResult,
    listener: SerialListener,
    directory: Path | None,
) -> ExecutionResult:
    """``result`` with the archive of ``job``'s artifacts in ``directory``, when the job
    collects any for ``result`` and some file matched; notes for the log go to
    ``listener``."""
    if not job.collects_artifacts(result.status):
        return result
    patterns: list[ArtifactPattern] = []
    for text in job.artifact_paths:
        try:
            patterns.append(ArtifactPattern.parse(text))
        except InvalidPattern as exc:
            await listener.system(f"artifacts: {exc}; ignored")
    if not patterns:
        return result
    dest, count = await _collect(container, patterns, directory)
    if dest is None:
        paths = ", ".join(job.artifact_paths)
        await listener.system(f"artifacts: no files matched {paths}")
        return result
    await listener.system(f"artifacts: collected {count} entries")
    return replace(result, artifacts=dest)


async def _collect(
    container: Container, patterns: Sequence[ArtifactPattern], directory: Path | None
) -> tuple[Path | None, int]:
    """The workspace files ``patterns`` select, as an archive in ``directory`` (None if
    nothing matched), and how many entries it holds."""
    archives: list[tuple[str, tarfile.TarFile]] = []
    try:
        for root in fetch_roots(patterns):
            archive = await container.get_archive(f"{WORKSPACE}/{root}" if root else WORKSPACE)
            if archive is not None:
                archives.append((root, archive))
        return await asyncio.to_thread(write_selection, archives, patterns, directory)
    finally:
        for _, archive in archives:
            archive.close()
