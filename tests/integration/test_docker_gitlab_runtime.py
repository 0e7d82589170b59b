"""GitLab's artifact keywords and image entrypoints, in the real Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxci.common.archives import pack_directory
from xxci.common.status import JobStatus
from xxci.worker.docker.executor import DockerExecutor
from xxci.worker.executor import Workspace

from .test_docker_executor import execute, member_names

pytestmark = pytest.mark.docker

_MAKE = (
    "mkdir -p ux foo/bar/baz 'foo/qux/qu ux' out && touch ux/q ux/r foo/a foo/d foo/bar/w"
    " foo/bar/baz/m foo/qux/qu 'foo/qux/qu ux/g' out/app src/new.c && echo changed > src/main.c"
)


async def test_exclude_and_untracked_select_as_gitlab_s_runner(
    docker_image: str, tmp_path: Path
) -> None:
    tree = tmp_path / "repo" / "src"
    tree.mkdir(parents=True)
    (tree / "main.c").write_text("int main;\n")
    source = pack_directory(tree.parent, tmp_path / "source.tar.gz")
    result, rec = await execute(
        docker_image,
        [_MAKE],
        artifact_paths=("foo", "ux"),
        artifact_exclude=("foo/qux/qu ux/**", "foo/bar/**", "foo/bar", "foo/d"),
        workspace=Workspace(source=source),
        executor=DockerExecutor(artifact_dir=tmp_path),
    )
    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert result.artifacts is not None
    assert member_names(result.artifacts) == {
        "foo",
        "foo/a",
        "foo/qux",
        "foo/qux/qu",
        "ux",
        "ux/q",
        "ux/r",
    }

    result, rec = await execute(
        docker_image,
        [_MAKE],
        artifact_untracked=True,
        artifact_exclude=("foo/**",),
        workspace=Workspace(source=source),
        executor=DockerExecutor(artifact_dir=tmp_path),
    )
    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert result.artifacts is not None
    # Files only (a folder comes with them), the source tree's own left out even if changed.
    assert member_names(result.artifacts) == {"ux/q", "ux/r", "out/app", "src/new.c"}
    assert rec.text("system").endswith("artifacts: collected 4 entries\n")


async def test_a_named_entrypoint_runs_with_the_script_as_its_command(docker_image: str) -> None:
    entry = ("/bin/sh", "-c", 'echo "entry as $0"; exec "$@"', "wrapper")
    result, rec = await execute(docker_image, ["echo script"], entrypoint=entry)
    assert result.status is JobStatus.SUCCESS, rec.text("stderr")
    assert rec.transcript() == [
        ("stdout", "entry as wrapper\n"),
        ("system", "$ echo script\n"),
        ("stdout", "script\n"),
    ]
    # The image's own entrypoint (this one has none): the script runs as before.
    result, rec = await execute(docker_image, ["echo own"], image_entrypoint=True)
    assert (result.status, rec.text("stdout")) == (JobStatus.SUCCESS, "own\n")


async def test_without_bash_a_gitlab_job_runs_in_sh(docker_image: str) -> None:
    result, rec = await execute(
        docker_image,
        ['echo "bash=${BASH:-none}"', "exit 3"],
        after_script=('echo "after $CI_JOB_STATUS bash=${BASH:-none}"',),
        prefer_bash=True,
        image_entrypoint=True,
    )
    assert (result.status, result.exit_code) == (JobStatus.FAILED, 3)
    assert rec.text("stdout") == "bash=none\nafter failed bash=none\n"
