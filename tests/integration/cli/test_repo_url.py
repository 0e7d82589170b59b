"""--repo URL: the repository is cloned first (here from a local bare repository)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner

from xxci.cli.main import cli
from xxci.cli.repo.selection import is_url

PIPELINE = """\
pipeline: {name: remote}
stages: [test]
default: {image: busybox}
jobs:
  - {name: hello, stage: test, script: ["cat hello.txt"]}
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def remote(tmp_path: Path) -> str:
    """A bare repository with branches main (valid pipeline) and broken (a typo)."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / ".pipelines").mkdir()
    (work / ".pipelines" / "p.yml").write_text(PIPELINE)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "main")
    git(work, "push", "-q", "origin", "HEAD:main")
    git(work, "checkout", "-qb", "broken")
    (work / ".pipelines" / "p.yml").write_text(PIPELINE.replace("script:", "scirpt:"))
    git(work, "commit", "-qam", "typo")
    git(work, "push", "-q", "origin", "broken")
    return f"file://{bare}"


def clones() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("xxci-clone-*")}


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://example.com/x.git", True),
        ("ssh://git@example.com/x.git", True),
        ("file:///srv/x.git", True),
        ("git@example.com:team/x.git", True),
        ("../x", False),
        ("/srv/repo", False),
        ("C:repo", False),
    ],
)
def test_what_counts_as_a_url(text: str, url: bool) -> None:
    assert is_url(text) is url


async def test_check_clones_a_url(remote: str, tmp_path: Path) -> None:
    before = clones()
    result = await CliRunner().invoke(cli, ["check", "--repo", remote])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("p.yml: ok (pipeline 'remote', 1 stage, 1 job)\n")
    assert clones() == before, "the clone outlived the command"


async def test_a_url_that_cannot_be_cloned_is_a_usage_error(tmp_path: Path) -> None:
    before = clones()
    result = await CliRunner().invoke(cli, ["check", "--repo", f"file://{tmp_path}/nope.git"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot clone file://{tmp_path}/nope.git: ")
    assert result.stderr.count("\n") == 1
    assert clones() == before


async def test_run_clones_the_branch_it_is_given(remote: str) -> None:
    # The file on branch 'broken' is validated before anything is sent anywhere.
    before = clones()
    args = ["run", "--repo", remote, "--branch", "broken", "--server", "127.0.0.1:1"]
    result = await CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "unknown key 'scirpt' in job 'hello' (did you mean 'script'?)" in result.stderr
    assert clones() == before
