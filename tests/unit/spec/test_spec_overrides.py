"""``--override KEY.PATH=VALUE``: parsing, patching and where errors point."""

from __future__ import annotations

import pytest

from xxci.common.errors import UsageError
from xxci.common.spec import Override, apply_overrides, parse_override
from xxci.common.spec.parser import parse_document
from xxci.common.spec.tree import Map

from .helpers import VALID, errors, load, yml


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("default.image=gradle:jdk8", ("default", "image"), "gradle:jdk8"),
        ("jobs.compile.timeout=10m", ("jobs", "compile", "timeout"), "10m"),
        ("jobs.unit.retry=2", ("jobs", "unit", "retry"), 2),
        ("jobs.unit.allow_failure=true", ("jobs", "unit", "allow_failure"), True),
        ("stages=[build, test]", ("stages",), ["build", "test"]),
        (
            "jobs.a.allow_failure={exit_codes: [3]}",
            ("jobs", "a", "allow_failure"),
            {"exit_codes": [3]},
        ),
        ("jobs.a.script=echo a: b", ("jobs", "a", "script"), "echo a: b"),
        ("jobs.a.script=- x", ("jobs", "a", "script"), "- x"),
        ("default.image=", ("default", "image"), None),
        ("default.image=a=b", ("default", "image"), "a=b"),
        (" default . image =x", ("default", "image"), "x"),
    ],
)
def test_parse_override(text: str, path: tuple[str, ...], value: object) -> None:
    assert parse_override(text) == Override(path, value, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default.image", "invalid --override 'default.image': expected KEY.PATH=VALUE"),
        ("=x", "invalid --override '=x': the key path has an empty part"),
        (
            "default..image=x",
            "invalid --override 'default..image=x': the key path has an empty part",
        ),
        (
            "stages=[build",
            "invalid --override 'stages=[build': the value is not YAML"
            " (expected ',' or ']', but got '<stream end>')",
        ),
        (
            "pipeline.name.x=1",
            "cannot apply --override 'pipeline.name.x=1': 'pipeline.name' is 'demo', not a mapping",
        ),
        (
            "stages.build=x",
            "cannot apply --override 'stages.build=x': 'stages' is a list, not a mapping",
        ),
    ],
)
def test_malformed_overrides_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load(VALID, [text])
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_overrides_patch_existing_and_new_keys() -> None:
    pipeline = load(
        VALID,
        [
            "default.image=gradle:jdk8",
            "jobs.compile.timeout=10m",
            "jobs.unit.variables={A: 1}",
            "pipeline.name=patched",
        ],
    )
    assert pipeline.name == "patched"
    assert [j.image for j in pipeline.jobs] == ["gradle:jdk8", "gradle:jdk8"]
    assert pipeline.job("compile").timeout_seconds == 600
    assert dict(pipeline.job("unit").variables) == {"A": "1"}


def test_overrides_address_jobs_in_mapping_form_and_create_sections() -> None:
    text = "pipeline: {name: demo}\njobs:\n  unit: {script: [x]}\n"
    pipeline = load(text, ["default.image=alpine", "jobs.unit.retry=1", "jobs.lint.script=lint"])
    assert [(j.name, j.image, j.retry, j.script) for j in pipeline.jobs] == [
        ("unit", "alpine", 1, ("x",)),
        ("lint", "alpine", 0, ("lint",)),
    ]


def test_an_override_can_replace_a_whole_job_in_list_form() -> None:
    pipeline = load(VALID, ["jobs.unit={stage: test, script: [pytest]}"])
    assert pipeline.job("unit").script == ("pytest",)


def test_an_override_on_a_null_section_makes_it_a_mapping() -> None:
    text = VALID.replace("default:\n  image: busybox\n", "default:\n") + "  - {name: x}\n"
    pipeline = load(VALID.replace("  image: busybox\n", ""), ["default.image=alpine"])
    assert pipeline.job("unit").image == "alpine"
    assert "default:" in text


def test_diagnostics_for_overridden_values_point_at_the_key_and_say_so() -> None:
    assert errors(VALID, ["default.image=5", "jobs.compile.timeout=soon"]) == [
        "p.yml:1:1: invalid duration 'soon' for 'timeout' in job 'compile';"
        " expected e.g. 90s, 30m, 1h 30m or a number of seconds (from --override)",
        "p.yml:5:3: expected a string for 'image' in 'default', found an integer (5)"
        " (quote it to make it a string) (from --override)",
    ]


def test_a_job_added_by_an_override_is_validated_like_any_other() -> None:
    assert errors(VALID, ["jobs.new.timeout=1m"]) == [
        "p.yml:1:1: missing required key 'script' in job 'new' (from --override)"
    ]


def test_an_overridden_list_points_at_its_key() -> None:
    assert errors(VALID, ["stages=[build, '', test]"]) == [
        "p.yml:3:1: empty stage name in 'stages' (from --override)"
    ]


def test_apply_overrides_is_pure() -> None:
    root = parse_document(yml(VALID), "p.yml").root
    patched = apply_overrides(root, ["default.image=alpine"])
    assert isinstance(patched, Map)
    default = root.get("default")
    assert default is not None and isinstance(default.value, Map)
    image = default.value.get("image")
    assert image is not None and getattr(image.value, "value", None) == "busybox"
