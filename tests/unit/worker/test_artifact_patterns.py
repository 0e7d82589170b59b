"""Artifact path patterns: parsing, matching, and what to fetch from a container."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from xxci.worker.docker.artifacts import (
    ArtifactPattern,
    InvalidPattern,
    Selection,
    archive_path,
    fetch_roots,
    selected,
    write_selection,
)


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "matches"),
    [
        ("build/libs/*.jar", "build/libs/app.jar", False, True),
        ("build/libs/*.jar", "build/libs/sub/app.jar", False, False),
        ("build/libs/*.jar", "build/libs/app.war", False, False),
        ("*.log", "run.log", False, True),
        ("*.log", "logs/run.log", False, False),
        ("**/*.xml", "r.xml", False, True),
        ("**/*.xml", "a/b/c/r.xml", False, True),
        ("build/**/doc/", "build/doc", True, True),
        ("build/**/doc/", "build/x/y/doc", True, True),
        ("build/**/doc/", "build/x/doc", False, False),  # trailing / : directories only
        ("build/**", "build/x/y", False, True),
        ("./dist/app.tar", "dist/app.tar", False, True),
        ("dist//*.whl", "dist/a.whl", False, True),
        ("report-?.txt", "report-1.txt", False, True),
        ("report-[0-9].txt", "report-a.txt", False, False),
        (".hidden/*", ".hidden/x", False, True),
        ("*", ".dotfile", False, True),
    ],
)
def test_matches(pattern: str, path: str, is_dir: bool, matches: bool) -> None:
    assert ArtifactPattern.parse(pattern).matches(path, is_dir=is_dir) is matches


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside", "a/../../b", "", ".", "./"])
def test_invalid_patterns(bad: str) -> None:
    with pytest.raises(InvalidPattern):
        ArtifactPattern.parse(bad)


def test_a_matched_directory_brings_everything_under_it() -> None:
    patterns = [ArtifactPattern.parse("build/**/doc/")]

    assert selected("build/x/doc/index.html", False, patterns)
    assert selected("build/x/doc/img/logo.png", False, patterns)
    assert not selected("build/x/other.html", False, patterns)


@pytest.mark.parametrize(
    ("patterns", "roots"),
    [
        (["build/libs/*.jar"], ["build/libs"]),
        (["dist/app.tar"], ["dist/app.tar"]),
        (["build/libs/*.jar", "build/**/doc/"], ["build"]),
        (["a/*.txt", "b/c/*"], ["a", "b/c"]),
        (["**/*.xml", "build/*"], [""]),
        (["*.log"], [""]),
        (["a-b/*", "a/x/*"], ["a-b", "a/x"]),
    ],
)
def test_fetch_roots(patterns: list[str], roots: list[str]) -> None:
    assert fetch_roots(ArtifactPattern.parse(p) for p in patterns) == roots


@pytest.mark.parametrize(
    ("root", "member", "path"),
    [
        ("", "workspace", None),
        ("", "workspace/a/b.txt", "a/b.txt"),
        ("build/libs", "libs", "build/libs"),
        ("build/libs", "libs/a.jar", "build/libs/a.jar"),
        ("dist", "dist/x", "dist/x"),
        ("dist/app.tar", "app.tar", "dist/app.tar"),
    ],
)
def test_archive_path(root: str, member: str, path: str | None) -> None:
    assert archive_path(root, member) == path


def docker_archive(top: str, entries: list[tuple[str, str, bytes | str | None]]) -> tarfile.TarFile:
    """A tar as Docker's get_archive returns it: members named after the fetched path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for kind, name, payload in [("dir", "", None), *entries]:
            info = tarfile.TarInfo(f"{top}/{name}".rstrip("/"))
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "file":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            elif kind == "symlink":
                assert isinstance(payload, str)
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tar.addfile(info)
            else:  # hard link to another member
                assert isinstance(payload, str)
                info.type, info.linkname = tarfile.LNKTYPE, f"{top}/{payload}"
                tar.addfile(info)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r")


def test_write_selection_names_members_from_the_workspace(tmp_path: Path) -> None:
    libs = docker_archive(
        "libs",
        [
            ("file", "a.jar", b"jar"),
            ("file", "b.txt", b"txt"),
            ("symlink", "latest.jar", "a.jar"),
            ("hardlink", "copy.jar", "a.jar"),
        ],
    )
    whole = docker_archive(
        "workspace", [("dir", "reports", None), ("file", "reports/r.xml", b"<r/>")]
    )
    patterns = (ArtifactPattern.parse("build/libs/*.jar"), ArtifactPattern.parse("**/*.xml"))

    dest, count = write_selection(
        [("build/libs", libs), ("", whole)], Selection(patterns), tmp_path
    )

    assert dest is not None and dest.parent == tmp_path
    with tarfile.open(dest) as tar:
        members = {m.name: m for m in tar.getmembers()}
        copy = tar.extractfile("build/libs/copy.jar")
        assert copy is not None and copy.read() == b"jar"
    assert sorted(members) == [
        "build/libs/a.jar",
        "build/libs/copy.jar",
        "build/libs/latest.jar",
        "reports/r.xml",
    ]
    assert count == 4
    assert members["build/libs/latest.jar"].issym()
    assert members["build/libs/copy.jar"].isreg()


def test_write_selection_without_a_match_leaves_nothing(tmp_path: Path) -> None:
    archive = docker_archive("workspace", [("file", "a.txt", b"a")])

    selection = Selection((ArtifactPattern.parse("*.jar"),))
    assert write_selection([("", archive)], selection, tmp_path) == (None, 0)
    assert list(tmp_path.iterdir()) == []


def _parsed(*texts: str) -> tuple[ArtifactPattern, ...]:
    return tuple(ArtifactPattern.parse(t) for t in texts)


WORKSPACE_TREE = [
    *[(f"ux/{n}", False) for n in "qrst"],
    ("foo", True),
    *[(f"foo/{n}", False) for n in "abcd"],
    ("foo/bar", True),
    *[(f"foo/bar/{n}", False) for n in "wxyz"],
    ("foo/bar/baz", True),
    ("foo/bar/baz/m", False),
    ("foo/qux", True),
    ("foo/qux/qu", False),
    ("foo/qux/qu ux", True),
    ("foo/qux/qu ux/g", False),
    ("src/main.c", False),
    ("out/app", False),
]


def test_exclude_takes_out_what_its_patterns_match_themselves() -> None:
    # GitLab's runner: an exclude pattern is not recursive (``foo/bar`` alone keeps
    # what is under it), and ``**`` matches no component too.
    selection = Selection(
        _parsed("foo", "ux"),
        _parsed("foo/qux/qu ux/**", "foo/bar/**", "foo/bar", "foo/d", "xyzzy/**/*"),
    )
    kept = [path for path, is_dir in WORKSPACE_TREE if selection.wants(path, is_dir)]
    assert kept == [
        *[f"ux/{n}" for n in "qrst"],
        "foo",
        "foo/a",
        "foo/b",
        "foo/c",
        "foo/qux",
        "foo/qux/qu",
    ]
    only_dir = Selection(_parsed("foo"), _parsed("foo/bar"))
    assert only_dir.wants("foo/bar/w", False) and not only_dir.wants("foo/bar", True)


def test_untracked_takes_every_file_not_in_the_source_tree() -> None:
    selection = Selection(tracked=frozenset({"src", "src/main.c", "ux/q"}))
    assert selection.roots() == [""]
    kept = [path for path, is_dir in WORKSPACE_TREE if selection.wants(path, is_dir)]
    assert "src/main.c" not in kept and "ux/q" not in kept
    assert {"out/app", "ux/r", "foo/qux/qu ux/g"} <= set(kept)
    assert not any(is_dir for path, is_dir in WORKSPACE_TREE if path in kept)
    with_paths = Selection(_parsed("src"), _parsed("out/*"), frozenset({"src/main.c"}))
    assert with_paths.wants("src/main.c", False) and not with_paths.wants("out/app", False)
