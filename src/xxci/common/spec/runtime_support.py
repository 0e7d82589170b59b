"""What a pipeline asks that xxci's runtime does not do yet.

The loader reads every keyword, so a pipeline may ask for something the scheduler or
the workers cannot do yet. Such a pipeline is refused when it is submitted, with one
line per job and keyword, rather than run without it.
"""

from __future__ import annotations

from xxci.common.errors import XxciError
from xxci.common.spec.model import Job, Pipeline

__all__ = ["refuse_unsupported", "unsupported"]


def _gaps(job: Job) -> list[str]:
    """What of ``job`` cannot run: nothing at present (every keyword read runs); the
    place a keyword read before it runs is named."""
    del job
    return []


def unsupported(pipeline: Pipeline) -> list[str]:
    """One line per job that asks for something not run yet ([] when all can run)."""
    return [
        f"job '{job.name}' uses {', '.join(gaps)}, which xxci cannot run yet"
        for job in pipeline.jobs
        if (gaps := _gaps(job))
    ]


def refuse_unsupported(pipeline: Pipeline) -> None:
    """Raise :class:`XxciError` naming what cannot run yet, or the reason the pipeline
    makes no run at all (``workflow: rules``, every job left out)."""
    if pipeline.not_run:
        raise XxciError(f"pipeline '{pipeline.name}' makes no run here: {pipeline.not_run}")
    gaps = unsupported(pipeline)
    if gaps:
        raise XxciError("; ".join(gaps))
