"""Helpers for the ``.gitlab-ci.yml`` tests: load a file for a run context."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from xxci.common.errors import SpecError
from xxci.common.spec import Pipeline, load_pipeline_text
from xxci.common.spec.context import RunContext

FILE = ".gitlab-ci.yml"


class MemoryFiles:
    """A repository held in memory (the fake of ``RepoFiles``)."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self._files = {path: textwrap.dedent(text).lstrip("\n") for path, text in files.items()}

    def names(self) -> frozenset[str]:
        return frozenset(self._files)

    def read(self, path: str) -> str | None:
        return self._files.get(path.lstrip("/"))


def gl(
    text: str,
    *,
    files: Mapping[str, str] | None = None,
    **context: object,
) -> Pipeline:
    """Load ``text`` as a ``.gitlab-ci.yml`` for a push of ``main`` (or ``context``)."""
    repo = MemoryFiles({FILE: text, **(files or {})})
    ctx = RunContext(files=repo, **context)  # type: ignore[arg-type]
    return load_pipeline_text(textwrap.dedent(text).lstrip("\n"), FILE, context=ctx)


def gl_errors(text: str, *, files: Mapping[str, str] | None = None, **context: object) -> list[str]:
    """Every diagnostic for ``text``; fails if it is valid."""
    with pytest.raises(SpecError) as info:
        gl(text, files=files, **context)
    return [str(d) for d in info.value.diagnostics]


def names(pipeline: Pipeline) -> list[str]:
    return [job.name for job in pipeline.jobs]
