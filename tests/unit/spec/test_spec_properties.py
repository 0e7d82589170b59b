"""Property tests: whatever the text, loading gives a Pipeline or a SpecError."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from xxci.common.errors import Diagnostic, SpecError, UsageError
from xxci.common.spec import Pipeline, load_pipeline_text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_LINES = (ROOT / ".pipelines/example.yml").read_text().splitlines() + (
    ROOT / "examples/valid/jobs-mapping.yml"
).read_text().splitlines()
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-300, 300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["build", "test", "10m", "1h 30m", "busybox", "on_success", "x y"]),
)
KEYS = st.sampled_from(
    [
        "pipeline",
        "name",
        "stages",
        "default",
        "jobs",
        "stage",
        "image",
        "script",
        "needs",
        "allow_failure",
        "exit_codes",
        "artifacts",
        "paths",
        "when",
        "variables",
        "timeout",
        "retry",
        "tags",
        "A",
        "scirpt",
    ]
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=25,
)
VALUES = [
    "",
    "~",
    "[]",
    "{}",
    "1",
    "-1",
    "true",
    "x",
    '"',
    "&a",
    "*a",
    "!!bool x",
    "[a, b]",
    "{a: 1}",
    "- x",
    ":",
    "10m",
    "2024-01-01",
    "<<: *shell",
    "? x",
    "|",
    "!foo",
    "0x10",
    ".inf",
]


def check(text: str) -> None:
    try:
        result = load_pipeline_text(text, "p.yml")
    except SpecError as error:
        assert error.diagnostics, "a SpecError always carries diagnostics"
        assert error.diagnostics == sorted(error.diagnostics)
        for diagnostic in error.diagnostics:
            assert isinstance(diagnostic, Diagnostic)
            assert diagnostic.file == "p.yml" and diagnostic.line >= 1 and diagnostic.column >= 1
            assert diagnostic.message and "\n" not in diagnostic.message
    else:
        assert isinstance(result, Pipeline)
        assert Pipeline.from_dict(result.to_dict()) == result


@FAST
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@FAST
@given(st.text(alphabet=" \n\t:-[]{},'\"#&*!|>?%@`abc123", max_size=200))
def test_random_yaml_punctuation(text: str) -> None:
    check(text)


@FAST
@given(DOCUMENTS)
def test_random_structures(document: object) -> None:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, out)
    check(out.getvalue())


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "value", "indent"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value" and ":" in lines[i]:
            key = lines[i][: lines[i].index(":") + 1]
            lines[i] = f"{key} {draw(st.sampled_from(VALUES))}"
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        if not lines:
            break
    return "\n".join(lines)


@FAST
@given(mutated_example())
def test_mutations_of_the_example_pipelines(text: str) -> None:
    check(text)


@FAST
@given(st.lists(st.text(alphabet="abcdejobsimagetimeout.=[]{}: 1", max_size=30), max_size=3))
def test_random_overrides_are_usage_errors_at_worst(overrides: list[str]) -> None:
    text = (ROOT / ".pipelines/example.yml").read_text()
    with contextlib.suppress(SpecError, UsageError):
        load_pipeline_text(text, "p.yml", overrides)
