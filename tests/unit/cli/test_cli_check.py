"""``xxci check`` through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PIPELINE, run


async def test_check_every_file(repo: Path) -> None:
    (repo / ".pipelines/other.yaml").write_text(PIPELINE.format(name="other"))
    result = await run(["check"])
    assert result.exit_code == 0
    assert result.stdout == (
        ".pipelines/main.yml: ok (pipeline 'main', 2 stages, 3 jobs)\n"
        ".pipelines/other.yaml: ok (pipeline 'other', 2 stages, 3 jobs)\n"
    )
    assert result.stderr == ""


async def test_check_reports_every_error_on_stderr(repo: Path) -> None:
    (repo / ".pipelines/broken.yml").write_text(
        "pipeline:\n  name: broken\njobs:\n  - name: a\n    scirpt: [x]\n    image: i\n"
    )
    result = await run(["check"])
    assert result.exit_code == 1
    assert result.stdout == ".pipelines/main.yml: ok (pipeline 'main', 2 stages, 3 jobs)\n"
    assert result.stderr == (
        ".pipelines/broken.yml:5:5: unknown key 'scirpt' in job 'a' (did you mean 'script'?)\n"
        "1 error in 1 file\n"
    )


async def test_check_duplicate_pipeline_names_across_files(repo: Path) -> None:
    (repo / ".pipelines/copy.yml").write_text(PIPELINE.format(name="main"))
    result = await run(["check"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        ".pipelines/copy.yml:2:9: duplicate pipeline name 'main' (also in .pipelines/main.yml)\n"
        ".pipelines/main.yml:2:9: duplicate pipeline name 'main' (also in .pipelines/copy.yml)\n"
        "2 errors in 2 files\n"
    )


async def test_check_an_empty_file(repo: Path) -> None:
    (repo / ".pipelines/main.yml").write_text("")
    result = await run(["check"])
    assert result.exit_code == 1
    assert result.stderr == (
        ".pipelines/main.yml:1:1: the file is empty;"
        " expected a mapping with 'pipeline', 'stages' and 'jobs'\n"
        "1 error in 1 file\n"
    )


async def test_check_one_file_or_one_pipeline(repo: Path) -> None:
    (repo / ".pipelines/other.yml").write_text(PIPELINE.format(name="other"))
    by_file = await run(["check", "--file", ".pipelines/other.yml"])
    by_name = await run(["check", "--pipeline", "other"])
    for result in (by_file, by_name):
        assert result.exit_code == 0
        assert result.stdout == ".pipelines/other.yml: ok (pipeline 'other', 2 stages, 3 jobs)\n"


async def test_check_with_repo_from_elsewhere(repo: Path, outside: Path) -> None:
    result = await run(["check", "--repo", str(repo)])
    assert result.exit_code == 0
    assert result.stdout == (
        f"{repo}/.pipelines/main.yml: ok (pipeline 'main', 2 stages, 3 jobs)\n"
    )
    by_file = await run(["check", "--repo", str(repo), "--file", ".pipelines/main.yml"])
    assert by_file.exit_code == 0 and by_file.stdout == result.stdout


async def test_check_from_a_subfolder_finds_the_repository_root(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    result = await run(["check"])
    assert result.exit_code == 0
    assert result.stdout == f"{repo}/.pipelines/main.yml: ok (pipeline 'main', 2 stages, 3 jobs)\n"


async def test_check_overrides(repo: Path) -> None:
    ok = await run(["check", "--override", "jobs.unit.timeout=10m"])
    assert ok.exit_code == 0
    bad = await run(["check", "--override", "jobs.unit.timeout=10y"])
    assert bad.exit_code == 1
    assert bad.stderr == (
        ".pipelines/main.yml:1:1: invalid duration '10y' for 'timeout' in job 'unit';"
        " expected e.g. 90s, 30m, 1h 30m or a number of seconds (from --override)\n"
        "1 error in 1 file\n"
    )


async def test_usage_errors_exit_2_with_one_line(repo: Path) -> None:
    cases = {
        ("check", "--file", "x.yml", "--pipeline", "main"): (
            "error: --file and --pipeline cannot be used together; choose one\n"
        ),
        ("check", "--pipeline", "nope"): (
            "error: no pipeline named 'nope' in the repository (known: main)\n"
        ),
        ("check", "--file", "nope.yml"): "error: no such file: nope.yml\n",
        ("check", "--repo", "nowhere"): "error: --repo nowhere: no such folder\n",
        ("check", "--override", "default.image"): (
            "error: invalid --override 'default.image': expected KEY.PATH=VALUE\n"
        ),
        ("check", "--override", "pipeline.name.x=1"): (
            "error: cannot apply --override 'pipeline.name.x=1':"
            " 'pipeline.name' is 'main', not a mapping\n"
        ),
    }
    for args, stderr in cases.items():
        result = await run(args)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", stderr), args


async def test_check_outside_a_repository(outside: Path) -> None:
    result = await run(["check"])
    assert result.exit_code == 2
    assert result.stderr == "error: not inside a git repository; pass --repo PATH or --file PATH\n"


async def test_check_without_pipelines(repo: Path) -> None:
    (repo / ".pipelines/main.yml").unlink()
    result = await run(["check"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: no pipeline files (*.yml, *.yaml) in .pipelines/\n",
    )
    (repo / ".pipelines").rmdir()
    result = await run(["check"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: no .pipelines/ folder or .gitlab-ci.yml in .\n",
    )


ROOT = Path(__file__).resolve().parents[3]


async def test_the_repository_own_pipelines_check() -> None:
    result = await run(["check", "--repo", str(ROOT)])
    assert result.exit_code == 0, result.stderr
    assert "ok (pipeline 'example', 2 stages, 3 jobs)" in result.stdout
