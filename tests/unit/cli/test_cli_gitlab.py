"""``check`` and ``dry-run`` of a ``.gitlab-ci.yml`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run

GITLAB = """\
variables: {TARGET: staging}
build:
  stage: build
  script: [make]
  cache: {paths: [.cache/]}
deploy:
  stage: deploy
  script: [./deploy.sh $TARGET]
  environment: $TARGET
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - when: never
docs:
  script: [make docs]
  rules:
    - if: $CI_PIPELINE_SOURCE == "web"
"""


async def test_check_finds_the_gitlab_file_and_notes_what_is_not_acted_on(repo: Path) -> None:
    (repo / ".gitlab-ci.yml").write_text(GITLAB)
    result = await run(["check", "--pipeline", "gitlab-ci", "--branch", "main"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        ".gitlab-ci.yml: ok (pipeline 'gitlab-ci', 2 stages, 2 jobs, 1 left out by rules)\n"
        ".gitlab-ci.yml:9:3: note: 'environment' in job 'deploy' is accepted and shown by"
        " dry-run, but xxci does not act on it\n"
    )


async def test_dry_run_shows_manual_jobs_and_what_rules_leave_out(repo: Path) -> None:
    (repo / ".gitlab-ci.yml").write_text(GITLAB)
    result = await run(["dry-run", "--pipeline", "gitlab-ci", "--branch", "main"])
    assert result.exit_code == 0, result.stderr
    assert (
        "      when:          manual (blocks what follows until played: xxci play RUN 'deploy')\n"
        in result.stdout
    )
    assert "      environment:   staging (start, staging)\n" in result.stdout
    assert result.stdout.endswith(
        "not in this run (1 job):\n  job docs (stage test): no rule matched\n"
    )
    other = await run(["dry-run", "--pipeline", "gitlab-ci", "--branch", "dev", "--format", "json"])
    plan = json.loads(other.stdout)
    assert [e["name"] for e in plan["excluded"]] == ["deploy", "docs"]
    assert plan["excluded"][0]["reason"] == "rule 2 (line 13) says when: never"
    web = await run(["dry-run", "--pipeline", "gitlab-ci", "--source", "web", "--format", "json"])
    names = [j["name"] for s in json.loads(web.stdout)["stages"] for w in s["waves"] for j in w]
    assert "docs" in names


async def test_a_bad_variable_option_is_a_usage_error(repo: Path) -> None:
    (repo / ".gitlab-ci.yml").write_text(GITLAB)
    result = await run(["check", "--variable", "NOVALUE"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: invalid --variable 'NOVALUE': expected NAME=VALUE\n",
    )
