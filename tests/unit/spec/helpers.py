"""Helpers for the pipeline spec tests."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pytest

from xxci.common.errors import SpecError
from xxci.common.spec import Pipeline, load_pipeline_text

FILE = "p.yml"

VALID = """\
pipeline:
  name: demo
stages: [build, test]
default:
  image: busybox
jobs:
  - name: compile
    stage: build
    script: [make]
  - name: unit
    stage: test
    script: [make test]
"""


def yml(text: str) -> str:
    """Dedent a triple-quoted YAML snippet (its first line starts right after the quotes)."""
    return textwrap.dedent(text).lstrip("\n")


def load(text: str, overrides: Sequence[str] = ()) -> Pipeline:
    return load_pipeline_text(yml(text), FILE, overrides)


def errors(text: str, overrides: Sequence[str] = ()) -> list[str]:
    """Every diagnostic for ``text``, as printed; fails if the text is valid."""
    with pytest.raises(SpecError) as info:
        load(text, overrides)
    return [str(d) for d in info.value.diagnostics]


def with_jobs(jobs: str, *, stages: str = "[build, test]", default: str = "image: busybox") -> str:
    """A valid header (pipeline, stages, default) followed by ``jobs:`` and ``jobs``.

    The header is 5 lines, so the first line of ``jobs`` is line 7.
    """
    return (
        f"pipeline:\n  name: demo\nstages: {stages}\ndefault:\n  {default}\njobs:\n"
        + textwrap.indent(yml(jobs), "  ")
    )
