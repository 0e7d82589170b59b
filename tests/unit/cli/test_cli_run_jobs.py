"""``xxci run --jobs``: how many jobs a ``--local`` run runs at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxci.cli.commands.run import MAX_LOCAL_JOBS, local_jobs
from xxci.common.spec import load_pipeline_text

from .conftest import run


def pipeline_of(jobs_in_test: int) -> str:
    jobs = "\n".join(f"  - {{name: t{n}, stage: test, script: [x]}}" for n in range(jobs_in_test))
    return f"""\
pipeline: {{name: wide}}
stages: [build, test]
default: {{image: busybox}}
jobs:
  - {{name: compile, stage: build, script: [x]}}
{jobs}
"""


@pytest.mark.parametrize(("jobs_in_test", "expected"), [(1, 1), (5, 5), (40, MAX_LOCAL_JOBS)])
def test_by_default_as_many_as_the_widest_wave(jobs_in_test: int, expected: int) -> None:
    pipeline = load_pipeline_text(pipeline_of(jobs_in_test), "wide.yml")
    assert local_jobs(pipeline, None) == expected


def test_jobs_overrides_the_plan() -> None:
    pipeline = load_pipeline_text(pipeline_of(5), "wide.yml")
    assert local_jobs(pipeline, "2") == 2
    assert local_jobs(pipeline, "64") == 64


async def test_jobs_goes_with_local_only(repo: Path) -> None:
    result = await run(["run", "--server", "127.0.0.1:1", "--jobs", "2"])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        "error: --jobs goes with --local (a server's workers have their own capacity)\n",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "error: --jobs takes a number of at least 1, not 0\n"),
        ("many", "error: --jobs takes a whole number, not 'many'\n"),
    ],
)
async def test_jobs_is_a_positive_whole_number(repo: Path, value: str, message: str) -> None:
    result = await run(["run", "--local", "--jobs", value])
    assert (result.exit_code, result.stderr) == (2, message)
