"""The file as YAML: syntax, emptiness, shape and duplicate keys."""

from __future__ import annotations

import pytest

from xxci.common.errors import SpecError
from xxci.common.spec import load_pipeline_text

from .helpers import FILE, errors, yml

EMPTY = "p.yml:1:1: the file is empty; expected a mapping with 'pipeline', 'stages' and 'jobs'"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_an_empty_file_is_one_clear_error(text: str) -> None:
    with pytest.raises(SpecError) as info:
        load_pipeline_text(text, FILE)
    assert [str(d) for d in info.value.diagnostics] == [EMPTY]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- build\n- test\n",
            "p.yml:1:1: expected a mapping with 'pipeline', 'stages' and 'jobs'"
            " at the top level, found a list",
        ),
        (
            "just some text\n",
            "p.yml:1:1: expected a mapping with 'pipeline', 'stages' and 'jobs'"
            " at the top level, found 'just some text'",
        ),
        (
            "42\n",
            "p.yml:1:1: expected a mapping with 'pipeline', 'stages' and 'jobs'"
            " at the top level, found an integer (42)",
        ),
    ],
)
def test_a_file_that_is_not_a_mapping(text: str, expected: str) -> None:
    assert errors(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pipeline:\n  name: [demo\njobs: []\n",
            "p.yml:3:5: invalid YAML: expected ',' or ']', but got ':'"
            " (while parsing a flow sequence)",
        ),
        (
            "pipeline:\n  name: demo\n    stages: x\n",
            "p.yml:3:11: invalid YAML: mapping values are not allowed here",
        ),
        ("jobs: *nothing\n", "p.yml:1:7: invalid YAML: found undefined alias 'nothing'"),
        (
            "pipeline:\n\t- b\n",
            "p.yml:2:1: invalid YAML: found character '\\t' that cannot start any token"
            " (while scanning for the next token)",
        ),
        (
            'pipeline: "unterminated\n',
            "p.yml:2:1: invalid YAML: found unexpected end of stream"
            " (while scanning a quoted scalar)",
        ),
        (
            "pipeline: {name: a}\n---\njobs: []\n",
            "p.yml:2:1: the file holds more than one YAML document; expected exactly one",
        ),
        ("pipeline: \x07\n", "p.yml:1:11: invalid YAML: unacceptable character #x0007"),
        (
            "pipeline: !!bool maybe\n",
            "p.yml:1:1: invalid YAML: cannot construct a value (KeyError)",
        ),
        ("[" * 600, "p.yml:1:151: the file nests mappings and lists more than 150 deep, the limit"),
    ],
)
def test_yaml_errors_are_reported_at_the_parser_position(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_every_duplicate_key_is_reported_with_the_first_line() -> None:
    text = yml(
        """
        pipeline:
          name: demo
          name: again
        stages: [build]
        jobs:
          - name: compile
            stage: build
            image: busybox
            script: [make]
            script: [make all]
        stages: [test]
        """
    )
    assert errors(text) == [
        "p.yml:3:3: duplicate key 'name' (first defined at line 2)",
        "p.yml:10:5: duplicate key 'script' (first defined at line 9)",
        "p.yml:11:1: duplicate key 'stages' (first defined at line 4)",
    ]


def test_duplicate_keys_in_a_flow_mapping() -> None:
    text = "pipeline: {name: a, name: b}\njobs: {x: {script: s, image: i, script: t}}\n"
    assert errors(text) == [
        "p.yml:1:21: duplicate key 'name' (first defined at line 1)",
        "p.yml:2:33: duplicate key 'script' (first defined at line 2)",
    ]


def test_anchors_and_merge_keys_are_resolved() -> None:
    text = yml(
        """
        pipeline: {name: demo}
        .base: &base
          image: busybox
          script: [echo hi]
        jobs:
          a: {<<: *base, stage: test}
          b:
            <<: *base
            stage: test
            script: [echo b]
        """
    )
    pipeline = load_pipeline_text(text, FILE)
    assert [(j.name, j.image, j.script) for j in pipeline.jobs] == [
        ("a", "busybox", ("echo hi",)),
        ("b", "busybox", ("echo b",)),
    ]


def test_a_recursive_alias_is_cut_not_followed() -> None:
    text = "pipeline: {name: demo}\njobs: &j {a: {needs: *j, script: x, image: i}}\n"
    assert errors(text) == [
        "p.yml:2:15: expected a list of job names for 'needs' in job 'a', found null"
    ]
