"""The example .gitlab-ci.yml files of examples/gitlab/, planned for several pushes."""

from __future__ import annotations

from pathlib import Path

from xxci.common.spec import Pipeline, load_pipeline_file
from xxci.common.spec.context import RunContext
from xxci.common.spec.files import DirectoryFiles
from xxci.common.spec.model import When

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "gitlab"


def plan_of(name: str, **context: object) -> Pipeline:
    root = EXAMPLES / name
    ctx = RunContext(files=DirectoryFiles(root), **context)  # type: ignore[arg-type]
    return load_pipeline_file(root / ".gitlab-ci.yml", display_name=".gitlab-ci.yml", context=ctx)


def jobs(pipeline: Pipeline) -> dict[str, str]:
    return {job.name: job.when.value for job in pipeline.jobs}


def excluded(pipeline: Pipeline) -> dict[str, str]:
    return {job.name: job.reason for job in pipeline.excluded}


def test_webapp_on_the_default_branch() -> None:
    pipeline = plan_of("webapp")
    assert pipeline.name == "webapp-main"
    assert pipeline.stages == ("build", "test", "deploy")
    assert jobs(pipeline) == {
        "deploy-staging": "on_success",
        "deploy-production": "manual",
        "build": "on_success",
        "lint": "on_success",
        "unit: [18]": "on_success",
        "unit: [20]": "on_success",
        "unit: [22]": "on_success",
        "e2e": "on_success",
    }
    assert excluded(pipeline) == {"pages-preview": "no rule matched"}
    unit = pipeline.job("unit: [18]")
    assert (unit.image, unit.needs, unit.dag) == ("node:18-alpine", ("build",), True)
    assert unit.before_script == ("node --version",)
    assert unit.caches[0].key_files == ("package-lock.json",)
    assert (unit.retry, unit.retry_on) == (2, ("system_failure", "timeout"))
    staging = pipeline.job("deploy-staging")
    assert (staging.image, staging.before_script, staging.environment) == (
        "alpine:3.20",
        (),
        "staging",
    )
    production = pipeline.job("deploy-production")
    assert not production.blocks_when_manual  # allow_failure: true on the branch
    assert pipeline.job("e2e").after_script == ('echo "e2e finished: $CI_JOB_STATUS"',)
    assert pipeline.job("lint").dag and pipeline.job("lint").needs == ()


def test_webapp_for_a_release_tag() -> None:
    pipeline = plan_of("webapp", branch="", tag="v1.2.3")
    assert pipeline.name == "webapp-v1.2.3"
    assert "deploy-staging" in excluded(pipeline)
    assert pipeline.job("deploy-production").blocks_when_manual


def test_webapp_is_not_run_for_a_schedule_without_a_branch() -> None:
    assert plan_of("webapp", branch="", source="schedule").not_run == "workflow: no rule matched"


def test_pylib_shards_only_and_except() -> None:
    pipeline = plan_of("pylib", changed_files=("README.md",))
    assert jobs(pipeline) == {
        "tests 1/3": "on_success",
        "tests 2/3": "on_success",
        "tests 3/3": "on_success",
        "docs": "on_success",
        "package": "on_success",
    }
    assert excluded(pipeline) == {"release": "only (line 44): no refs condition holds"}
    tests = pipeline.job("tests 2/3")
    assert tests.script == (
        "pip install -e .[test]",
        'pytest --shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"',
    )
    assert (tests.node_index, tests.node_total) == (2, 3)
    assert tests.variables["LITERAL"] == "costs $$5"  # expand: false, kept as written
    on_code = plan_of("pylib", changed_files=("src/lib.py",))
    assert "docs" in excluded(on_code)
    tagged = plan_of("pylib", branch="", tag="v1")
    assert jobs(tagged)["release"] == When.MANUAL.value
    assert excluded(tagged) == {"package": "except (line 38): refs match"}


def test_monorepo_builds_what_changed_and_what_is_forced() -> None:
    pushed = plan_of("monorepo", changed_files=("services/api/main.go",))
    assert list(jobs(pushed)) == ["build-api", "build-web", "integration"]  # web: FORCE exists
    assert pushed.job("integration").needs == ("build-api", "build-web")
    assert excluded(pushed) == {"deploy": "no rule matched"}
    docs_only = plan_of("monorepo", changed_files=("README.md",))
    assert list(jobs(docs_only)) == ["build-web", "integration"]
    assert docs_only.job("integration").needs == ("build-web",)  # build-api optional, absent
    from_web = plan_of("monorepo", source="web")
    assert from_web.job("deploy").dependencies == ("build-api", "build-web")
