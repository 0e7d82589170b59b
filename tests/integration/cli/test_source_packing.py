"""What `xxci run` sends as the source tree: what git would keep, plus uncommitted work."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from xxci.cli.repo.gitinfo import worktree_files
from xxci.cli.repo.source import prepare_source


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        check=True,
        capture_output=True,
    )


def names(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:*") as tar:
        return sorted(m.name for m in tar.getmembers())


def test_ignored_files_stay_home_and_uncommitted_ones_go(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".pipelines").mkdir(parents=True)
    (repo / ".pipelines" / "p.yml").write_text("pipeline: {name: p}\n")
    (repo / ".gitignore").write_text(".venv/\n*.log\n")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print('hi')\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "lib" / "big.so").write_bytes(b"x" * 1000)
    (repo / "debug.log").write_text("noise\n")
    (repo / "src" / "new.py").write_text("# not committed yet\n")

    assert sorted(worktree_files(repo) or []) == [
        ".gitignore",
        ".pipelines/p.yml",
        "src/app.py",
        "src/new.py",
    ]
    source, text = prepare_source(repo, repo / ".pipelines" / "p.yml", tmp_path, None)
    assert text == "pipeline: {name: p}\n"
    assert names(source) == [
        ".gitignore",
        ".pipelines",
        ".pipelines/p.yml",
        "src",
        "src/app.py",
        "src/new.py",
    ]


def test_outside_git_the_whole_folder_goes(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    (root / "b.log").write_text("b")
    assert worktree_files(root) is None
    source, _ = prepare_source(root, root / "b.log", tmp_path, None)
    assert names(source) == ["b.log", "sub", "sub/a.txt"]


def test_a_commit_sends_that_commit_s_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".pipelines").mkdir(parents=True)
    (repo / ".pipelines" / "p.yml").write_text("pipeline: {name: old}\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    (repo / ".pipelines" / "p.yml").write_text("pipeline: {name: new}\n")
    (repo / "extra.txt").write_text("uncommitted")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    source, text = prepare_source(repo, repo / ".pipelines" / "p.yml", tmp_path, head)
    assert text == "pipeline: {name: old}\n"
    assert "extra.txt" not in names(source)


def symlinked_repo(tmp_path: Path) -> Path:
    """A repository whose tree holds symlinks to files and folders, inside and out."""
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "a.txt").write_text("a\n")
    (repo / ".pipelines").mkdir()
    (repo / ".pipelines" / "p.yml").write_text("pipeline: {name: p}\n")
    for name, target in [
        ("etcdir", "/etc"),
        ("up", "../.."),
        ("insidedir", "sub"),
        ("file.txt", "sub/a.txt"),
        ("passwd", "/etc/passwd"),
        ("dangling", "nowhere"),
    ]:
        (repo / name).symlink_to(target)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "links")
    return repo


LINKS = {
    "dangling": "nowhere",
    "etcdir": "/etc",
    "file.txt": "sub/a.txt",
    "insidedir": "sub",
    "passwd": "/etc/passwd",
    "up": "../..",
}


def test_symlinks_are_sent_as_symlinks_never_followed_from_the_working_tree(
    tmp_path: Path,
) -> None:
    repo = symlinked_repo(tmp_path)
    source, _ = prepare_source(repo, repo / ".pipelines" / "p.yml", tmp_path, None)
    with tarfile.open(source, "r:*") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {n: m.linkname for n, m in members.items() if m.issym()} == LINKS
    assert sorted(members) == sorted([*LINKS, ".pipelines", ".pipelines/p.yml", "sub", "sub/a.txt"])


def test_symlinks_are_sent_as_symlinks_from_a_commit(tmp_path: Path) -> None:
    repo = symlinked_repo(tmp_path)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    source, _ = prepare_source(repo, repo / ".pipelines" / "p.yml", tmp_path, head)
    with tarfile.open(source, "r:*") as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        regular = sorted(m.name for m in tar.getmembers() if m.isreg())
    assert links == LINKS
    assert regular == [".pipelines/p.yml", "sub/a.txt"]
