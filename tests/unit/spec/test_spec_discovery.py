"""Finding pipeline files, loading them together and selecting one."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxci.common.errors import SpecError, UsageError
from xxci.common.spec import (
    diagnostics_of,
    discover,
    display_path,
    load_files,
    load_pipeline_file,
    select,
)

from .helpers import VALID


def pipeline_text(name: str) -> str:
    return VALID.replace("name: demo", f"name: {name}")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / ".pipelines"
    folder.mkdir()
    (folder / "b.yaml").write_text(pipeline_text("beta"))
    (folder / "a.yml").write_text(pipeline_text("alpha"))
    (folder / "notes.txt").write_text("not a pipeline")
    (folder / "sub.yml").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_discover_lists_yml_and_yaml_files_sorted(repo: Path) -> None:
    assert discover(repo) == [repo / ".pipelines/a.yml", repo / ".pipelines/b.yaml"]


def test_discover_without_a_folder_or_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"^no \.pipelines/ folder or \.gitlab-ci\.yml in \.$"):
        discover(tmp_path)
    (tmp_path / ".pipelines").mkdir()
    with pytest.raises(
        UsageError, match=r"^no pipeline files \(\*\.yml, \*\.yaml\) in \.pipelines/$"
    ):
        discover(tmp_path)


def test_load_files_reports_duplicate_pipeline_names_in_each_file(repo: Path) -> None:
    (repo / ".pipelines/c.yml").write_text(pipeline_text("alpha") + "bogus: 1\n")
    files = load_files(discover(repo))
    assert [(f.display_name, f.pipeline is not None) for f in files] == [
        (".pipelines/a.yml", False),
        (".pipelines/b.yaml", True),
        (".pipelines/c.yml", False),
    ]
    assert [str(d) for d in diagnostics_of(files)] == [
        ".pipelines/a.yml:2:9: duplicate pipeline name 'alpha' (also in .pipelines/c.yml)",
        ".pipelines/c.yml:2:9: duplicate pipeline name 'alpha' (also in .pipelines/a.yml)",
        ".pipelines/c.yml:13:1: unknown key 'bogus'",
    ]


def test_load_files_keeps_going_after_a_broken_file(repo: Path) -> None:
    (repo / ".pipelines/a.yml").write_bytes(b"\xff\xfe not utf-8")
    files = load_files(discover(repo))
    assert [str(d) for d in diagnostics_of(files)] == [
        ".pipelines/a.yml:1:1: cannot read the file: it is not UTF-8 text"
    ]
    assert files[1].pipeline is not None and files[1].pipeline.name == "beta"


def test_select(repo: Path) -> None:
    assert select(repo) == discover(repo)
    assert select(repo, pipeline="beta") == [repo / ".pipelines/b.yaml"]
    assert select(None, file=Path("x.yml").absolute().parent / ".pipelines/a.yml") == [
        repo / ".pipelines/a.yml"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"file": Path("a.yml"), "pipeline": "alpha"},
            "--file and --pipeline cannot be used together; choose one",
        ),
        ({"file": Path("missing.yml")}, "no such file: missing.yml"),
        (
            {"pipeline": "gamma"},
            "no pipeline named 'gamma' in the repository (known: alpha, beta)",
        ),
    ],
)
def test_select_errors(repo: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as info:
        select(repo, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_select_outside_a_repository() -> None:
    with pytest.raises(
        UsageError, match=r"^not inside a git repository; pass --repo PATH or --file PATH$"
    ):
        select(None, pipeline="alpha")


def test_display_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "a" / "b.yml") == "a/b.yml"
    assert display_path(Path("/elsewhere/x.yml")) == "/elsewhere/x.yml"
    assert display_path(Path("rel.yml")) == "rel.yml"


def test_load_pipeline_file_names_the_file_and_reports_unreadable_ones(repo: Path) -> None:
    assert load_pipeline_file(repo / ".pipelines/a.yml").source_file == ".pipelines/a.yml"
    assert load_pipeline_file(repo / ".pipelines/a.yml", display_name="X").source_file == "X"
    with pytest.raises(SpecError) as info:
        load_pipeline_file(repo / "missing.yml")
    assert str(info.value) == "missing.yml:1:1: cannot read the file: no such file or directory"
