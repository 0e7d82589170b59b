"""``xxci dry-run`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from .conftest import PIPELINE, run

TEXT_PLAN = """\
pipeline 'main' (.pipelines/main.yml): 2 stages, 3 jobs
stage 1/2: build
  wave 1
    job compile
      image:         busybox
      timeout:       1h
      script:
        $ make
stage 2/2: test
  wave 1 (in parallel)
    job unit
      image:         busybox
      timeout:       1h
      needs:         compile
      script:
        $ make test
    job lint
      image:         busybox
      timeout:       1h
      script:
        $ make lint
"""


async def test_dry_run_text(repo: Path) -> None:
    result = await run(["dry-run"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, TEXT_PLAN, "")


async def test_dry_run_shows_waves_and_job_details(repo: Path) -> None:
    (repo / ".pipelines/main.yml").write_text(
        """\
pipeline: {name: main}
stages: [build, test]
default: {image: busybox}
jobs:
  - {name: compile, stage: build, script: [make], artifacts: {paths: [out/], when: always}}
  - {name: unit, stage: test, needs: [lint], script: ["make test", "echo 'multi\\nline'"],
     timeout: 90s, retry: 1, tags: [docker], variables: {A: 1}, allow_failure: {exit_codes: [3]}}
  - {name: lint, stage: test, script: [make lint], allow_failure: true}
"""
    )
    result = await run(["dry-run", "--pipeline", "main"])
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == """\
pipeline 'main' (.pipelines/main.yml): 2 stages, 3 jobs
stage 1/2: build
  wave 1
    job compile
      image:         busybox
      timeout:       1h
      artifacts:     out/ (always)
      script:
        $ make
stage 2/2: test
  wave 1
    job lint
      image:         busybox
      timeout:       1h
      allow failure: yes
      script:
        $ make lint
  wave 2
    job unit
      image:         busybox
      timeout:       1m 30s
      needs:         lint
      allow failure: exit codes 3
      retry:         1
      tags:          docker
      variables:     A=1
      script:
        $ make test
        $ echo 'multi
          line'
"""
    )


async def test_dry_run_json_and_yaml(repo: Path) -> None:
    as_json = await run(["dry-run", "--format", "json"])
    as_yaml = await run(["dry-run", "--format", "yaml"])
    assert as_json.exit_code == as_yaml.exit_code == 0
    data = json.loads(as_json.stdout)
    assert YAML(typ="safe").load(as_yaml.stdout) == data
    assert data["pipeline"] == "main"
    assert data["source_file"] == ".pipelines/main.yml"
    assert [(s["name"], [[j["name"] for j in w] for w in s["waves"]]) for s in data["stages"]] == [
        ("build", [["compile"]]),
        ("test", [["unit", "lint"]]),
    ]
    assert data["stages"][1]["waves"][0][0] == {
        "name": "unit",
        "stage": "test",
        "image": "busybox",
        "script": ["make test"],
        "needs": ["compile"],
        "allow_failure": {"allowed": False, "exit_codes": []},
        "artifacts": None,
        "variables": {},
        "timeout_seconds": 3600,
        "retry": 0,
        "tags": [],
        "before_script": [],
        "after_script": [],
        "when": "on_success",
        "start_in_seconds": 0,
        "dag": False,
        "dependencies": ["compile"],
        "origin": "",
        "node_index": 0,
        "node_total": 0,
        "entrypoint": None,
        "retry_on": [],
        "retry_exit_codes": [],
        "coverage": "",
        "resource_group": "",
        "interruptible": False,
        "environment": "",
        "environment_url": "",
        "environment_action": "",
        "environment_tier": "",
        "release": "",
        "services": [],
        "caches": [],
        "secrets": [],
    }


async def test_dry_run_with_override(repo: Path) -> None:
    result = await run(["dry-run", "--format", "json", "--override", "default.image=alpine:3"])
    assert result.exit_code == 0
    jobs = [j for s in json.loads(result.stdout)["stages"] for w in s["waves"] for j in w]
    assert {j["image"] for j in jobs} == {"alpine:3"}


async def test_dry_run_needs_one_pipeline(repo: Path) -> None:
    (repo / ".pipelines/other.yml").write_text(PIPELINE.format(name="other"))
    result = await run(["dry-run"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: .pipelines/ holds several pipelines (.pipelines/main.yml, .pipelines/other.yml);"
        " choose one with --pipeline NAME or --file PATH\n"
    )
    chosen = await run(["dry-run", "--pipeline", "other", "--format", "json"])
    assert json.loads(chosen.stdout)["pipeline"] == "other"


async def test_dry_run_reports_validation_errors_like_check(repo: Path) -> None:
    (repo / ".pipelines/main.yml").write_text(
        PIPELINE.format(name="main").replace("needs: [compile]", "needs: [unit]")
    )
    result = await run(["dry-run"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        ".pipelines/main.yml:12:13: cycle in needs: unit -> unit\n1 error in 1 file\n"
    )


async def test_dry_run_rejects_an_unknown_format(repo: Path) -> None:
    result = await run(["dry-run", "--format", "xml"])
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
