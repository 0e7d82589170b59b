"""Fixtures for the CLI tests: a git repository with pipelines, and the runner."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from asyncclick.testing import CliRunner, Result

from xxci.cli.main import cli

PIPELINE = """\
pipeline:
  name: {name}
stages: [build, test]
default:
  image: busybox
jobs:
  - name: compile
    stage: build
    script: [make]
  - name: unit
    stage: test
    needs: [compile]
    script: [make test]
  - name: lint
    stage: test
    script: [make lint]
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with ``.pipelines/main.yml`` (pipeline ``main``), as the cwd."""
    root = tmp_path / "repo"
    (root / ".pipelines").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".pipelines/main.yml").write_text(PIPELINE.format(name="main"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that is not in any git repository, as the cwd."""
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return folder


async def run(args: Sequence[str]) -> Result:
    return await CliRunner().invoke(cli, list(args), catch_exceptions=False)
