"""The source tree a run starts from, as an archive to upload."""

from __future__ import annotations

from pathlib import Path

from xxci.cli.repo.gitinfo import archive, show, worktree_files
from xxci.common.archives import pack_directory

__all__ = ["prepare_source"]


def prepare_source(
    repo_root: Path, pipeline_file: Path, tmp: Path, commit: str | None
) -> tuple[Path, str]:
    """The source tree as an archive, and the pipeline file's text, from the working
    tree or (with ``--commit``) from that commit."""
    if commit:
        return archive(repo_root, commit, tmp / "source.tar"), show(
            repo_root, commit, pipeline_file
        )
    # What a clone would hold plus uncommitted work, never what .gitignore leaves out
    # (virtualenvs, build output); outside git, the whole folder.
    source = pack_directory(repo_root, tmp / "source.tar", only=worktree_files(repo_root))
    return source, pipeline_file.read_text(encoding="utf-8")
