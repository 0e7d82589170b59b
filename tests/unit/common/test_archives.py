"""Workspace archives: deterministic packing of a source tree, merging artifacts."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from xxci.common.archives import merge_archives, open_archive, pack_directory


def make_tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "README.md").write_text("readme\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "empty").mkdir()
    (root / "link").symlink_to("README.md")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "vendor" / "sub").mkdir(parents=True)
    (root / "vendor" / "sub" / ".git").write_text("gitdir: ../../.git/modules/sub\n")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    first = make_tree(tmp_path / "a")
    # The same content created in another order (different inode/readdir order).
    second = tmp_path / "b"
    second.mkdir()
    for name in sorted((p.relative_to(first) for p in first.rglob("*")), reverse=True):
        src, dst = first / name, second / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            dst.mkdir(exist_ok=True)
        else:
            shutil.copy2(src, dst)
    for path in [second, *second.rglob("*")]:
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)

    one = pack_directory(first, tmp_path / "one.tar.gz")
    two = pack_directory(second, tmp_path / "two.tar.gz")

    assert digest(one) == digest(two)


def test_a_changed_file_changes_the_digest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    before = digest(pack_directory(tree, tmp_path / "1.tar.gz"))
    (tree / "README.md").write_text("changed\n")
    os.utime(tree / "README.md", (1_700_000_000, 1_700_000_000))

    assert digest(pack_directory(tree, tmp_path / "2.tar.gz")) != before


def test_members_sorted_normalised_git_skipped(tmp_path: Path) -> None:
    archive = pack_directory(make_tree(tmp_path / "t"), tmp_path / "s.tar.gz")

    with open_archive(archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "README.md",
        "empty",
        "link",
        "run.sh",
        "src",
        "src/pkg",
        "src/pkg/mod.py",
        "vendor",
        "vendor/sub",
    ]
    by_name = {m.name: m for m in members}
    assert by_name["link"].issym() and by_name["link"].linkname == "README.md"
    assert by_name["run.sh"].mode == 0o755
    assert by_name["empty"].isdir()
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert by_name["README.md"].mtime == 1_700_000_000


def test_without_dest_a_temporary_file_is_made(tmp_path: Path) -> None:
    archive = pack_directory(make_tree(tmp_path / "t"))
    try:
        assert tarfile.is_tarfile(archive)
    finally:
        archive.unlink()


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        pack_directory(tmp_path / "missing", tmp_path / "x.tar.gz")


def test_merge_later_archives_win(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "out").mkdir(parents=True)
    (one / "out" / "a.txt").write_text("from one\n")
    (one / "shared.txt").write_text("one\n")
    (two / "out").mkdir(parents=True)
    (two / "out" / "b.txt").write_text("from two\n")
    (two / "shared.txt").write_text("two\n")

    merged = merge_archives(
        [pack_directory(one, tmp_path / "1.tar.gz"), pack_directory(two, tmp_path / "2.tar.gz")],
        tmp_path / "merged.tar.gz",
    )

    with open_archive(merged) as tar:
        names = sorted(m.name for m in tar.getmembers())
        shared = tar.extractfile("shared.txt")
        assert shared is not None and shared.read() == b"two\n"
    assert names == ["out", "out/a.txt", "out/b.txt", "shared.txt"]
