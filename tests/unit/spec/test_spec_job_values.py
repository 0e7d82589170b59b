"""The values of a job: script, image, timeout, retry, allow_failure, artifacts, ..."""

from __future__ import annotations

import pytest

from xxci.common.spec import AllowFailure, Artifacts, ArtifactWhen

from .helpers import errors, load, with_jobs


def job_errors(body: str) -> list[str]:
    """Diagnostics for one job ``unit`` in stage test; ``body`` lines start at line 9."""
    return errors(with_jobs("- name: unit\n  stage: test\n" + body, stages="[test]"))


def job(body: str, default: str = "image: busybox") -> dict[str, object]:
    text = with_jobs("- name: unit\n  stage: test\n" + body, stages="[test]", default=default)
    return load(text).job("unit").to_dict()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  script: []\n", "p.yml:9:13: empty 'script' in job 'unit'"),
        ("  script: ''\n", "p.yml:9:13: empty 'script' in job 'unit'"),
        ("  script: '   '\n", "p.yml:9:13: empty 'script' in job 'unit'"),
        (
            "  script: {run: make}\n",
            "p.yml:9:13: expected a string or a list of strings for 'script' in job 'unit',"
            " found a mapping",
        ),
        (
            "  script: [make, true]\n",
            "p.yml:9:20: expected a string in the list for 'script' in job 'unit',"
            " found a boolean (true) (quote it to make it a string)",
        ),
        ("  script: [make, '']\n", "p.yml:9:20: empty entry in 'script' of job 'unit'"),
        ("  script: [x]\n  image: ''\n", "p.yml:10:12: empty 'image' in job 'unit'"),
        (
            "  script: [x]\n  image: [a]\n",
            "p.yml:10:12: expected an image name or {name, entrypoint} for 'image' in job 'unit',"
            " found a list",
        ),
    ],
)
def test_script_and_image(body: str, expected: str) -> None:
    assert job_errors(body) == [expected]


def test_stage_must_be_a_string() -> None:
    assert errors(with_jobs("- {name: unit, stage: 2, script: x}\n", stages="[test]")) == [
        "p.yml:7:25: expected a string for 'stage' in job 'unit', found an integer (2)"
        " (quote it to make it a string)"
    ]


def test_a_single_string_script_is_one_command() -> None:
    assert job("  script: make all\n")["script"] == ["make all"]


def test_a_missing_script() -> None:
    assert job_errors("  image: busybox\n") == [
        "p.yml:7:5: missing required key 'script' in job 'unit'"
    ]


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h 30m", 5400), ("2h", 7200), ("45", 45), ("1h30m", 5400)],
)
def test_timeouts(value: str, seconds: int) -> None:
    assert job(f"  script: [x]\n  timeout: {value}\n")["timeout_seconds"] == seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "10x",
            "invalid duration '10x' for 'timeout' in job 'unit';"
            " expected e.g. 90s, 30m, 1h 30m or a number of seconds",
        ),
        ("0", "'timeout' in job 'unit' must be at least 1 second"),
        ("0s", "'timeout' in job 'unit' must be at least 1 second"),
        ("-5", "'timeout' in job 'unit' must be at least 1 second"),
        ("31d", "'timeout' in job 'unit' must be at most 30d"),
        (
            "true",
            "expected a duration (e.g. 30m) for 'timeout' in job 'unit', found a boolean (true)",
        ),
        ("1.5", "expected a duration (e.g. 30m) for 'timeout' in job 'unit', found a number (1.5)"),
        ("[1m]", "expected a duration (e.g. 30m) for 'timeout' in job 'unit', found a list"),
    ],
)
def test_bad_timeouts(value: str, expected: str) -> None:
    assert job_errors(f"  script: [x]\n  timeout: {value}\n") == [f"p.yml:10:14: {expected}"]


# --- retry and tags ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "'retry' in job 'unit' must be between 0 and 10, found -1"),
        ("11", "'retry' in job 'unit' must be between 0 and 10, found 11"),
        ("two", "expected an integer for 'retry' in job 'unit', found 'two'"),
        ("true", "expected an integer for 'retry' in job 'unit', found a boolean (true)"),
    ],
)
def test_bad_retry(value: str, expected: str) -> None:
    assert job_errors(f"  script: [x]\n  retry: {value}\n") == [f"p.yml:10:12: {expected}"]


def test_retry_and_tags() -> None:
    resolved = job("  script: [x]\n  retry: 2\n  tags: [docker, linux]\n")
    assert (resolved["retry"], resolved["tags"]) == (2, ["docker", "linux"])


def test_bad_tags() -> None:
    assert job_errors("  script: [x]\n  tags: docker\n  needs: [1]\n") == [
        "p.yml:10:11: expected a list of strings for 'tags' in job 'unit', found 'docker'",
        "p.yml:11:13: expected a string in the list for 'needs' in job 'unit',"
        " found an integer (1) (quote it to make it a string)",
    ]


# --- allow_failure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", AllowFailure(allowed=True)),
        ("false", AllowFailure(allowed=False)),
        ("{exit_codes: [3, 137]}", AllowFailure(allowed=True, exit_codes=(3, 137))),
        ("{exit_codes: 42}", AllowFailure(allowed=True, exit_codes=(42,))),
    ],
)
def test_allow_failure(value: str, expected: AllowFailure) -> None:
    text = with_jobs(f"- {{name: unit, script: [x], allow_failure: {value}}}\n", stages="[test]")
    assert load(text).job("unit").allow_failure == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "maybe",
            [
                "p.yml:10:20: expected true, false or {exit_codes: [...]} for 'allow_failure'"
                " in job 'unit', found 'maybe'"
            ],
        ),
        (
            "[3]",
            [
                "p.yml:10:20: expected true, false or {exit_codes: [...]} for 'allow_failure'"
                " in job 'unit', found a list"
            ],
        ),
        (
            "{exit_codes: [x, 1.5, true]}",
            [
                "p.yml:10:34: expected an integer exit code for 'exit_codes' in 'allow_failure'"
                " of job 'unit', found 'x'",
                "p.yml:10:37: expected an integer exit code for 'exit_codes' in 'allow_failure'"
                " of job 'unit', found a number (1.5)",
                "p.yml:10:42: expected an integer exit code for 'exit_codes' in 'allow_failure'"
                " of job 'unit', found a boolean (true)",
            ],
        ),
        (
            "{exit_codes: [0, 256]}",
            [
                "p.yml:10:34: exit code 0 in 'allow_failure' of job 'unit' is out of range (1-255)",
                "p.yml:10:37: exit code 256 in 'allow_failure' of job 'unit' is out of range"
                " (1-255)",
            ],
        ),
        (
            "{exit_codes: []}",
            [
                "p.yml:10:33: 'exit_codes' in 'allow_failure' of job 'unit' is empty;"
                " list at least one exit code"
            ],
        ),
        (
            "{exit_code: [1]}",
            [
                "p.yml:10:20: missing required key 'exit_codes' in 'allow_failure' of job 'unit'",
                "p.yml:10:21: unknown key 'exit_code' in 'allow_failure' of job 'unit'"
                " (did you mean 'exit_codes'?)",
            ],
        ),
        (
            "{exit_codes: {a: 1}}",
            [
                "p.yml:10:33: expected an exit code or a list of exit codes for 'exit_codes'"
                " in 'allow_failure' of job 'unit', found a mapping"
            ],
        ),
    ],
)
def test_bad_allow_failure(value: str, expected: list[str]) -> None:
    assert job_errors(f"  script: [x]\n  allow_failure: {value}\n") == expected


# --- artifacts --------------------------------------------------------------------------


def test_artifacts() -> None:
    text = with_jobs(
        "- {name: unit, script: [x], artifacts: {paths: [build/, 'out/*.txt'], when: always}}\n",
        stages="[test]",
    )
    assert load(text).job("unit").artifacts == Artifacts(
        paths=("build/", "out/*.txt"), when=ArtifactWhen.ALWAYS
    )
    text = with_jobs("- {name: unit, script: [x], artifacts: {paths: [a]}}\n", stages="[test]")
    assert load(text).job("unit").artifacts == Artifacts(paths=("a",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "[build/]",
            ["p.yml:10:16: expected a mapping for 'artifacts' in job 'unit', found a list"],
        ),
        (
            "{when: always}",
            ["p.yml:10:16: missing required key 'paths' in 'artifacts' of job 'unit'"],
        ),
        ("{paths: []}", ["p.yml:10:24: empty 'paths' in 'artifacts' of job 'unit'"]),
        (
            "{paths: build/}",
            [
                "p.yml:10:24: expected a list of strings for 'paths' in 'artifacts' of job 'unit',"
                " found 'build/'"
            ],
        ),
        (
            "{paths: [/etc/passwd, ../up, a/../../b, ok/../fine]}",
            [
                "p.yml:10:25: artifact path '/etc/passwd' in job 'unit' must be relative"
                " and stay inside the workspace",
                "p.yml:10:38: artifact path '../up' in job 'unit' must be relative"
                " and stay inside the workspace",
                "p.yml:10:45: artifact path 'a/../../b' in job 'unit' must be relative"
                " and stay inside the workspace",
            ],
        ),
        (
            "{paths: [a], when: on_sucess}",
            [
                "p.yml:10:35: invalid 'when' 'on_sucess' in 'artifacts' of job 'unit';"
                " expected on_success, on_failure or always (did you mean 'on_success'?)"
            ],
        ),
        (
            "{paths: [a], when: 1}",
            [
                "p.yml:10:35: expected on_success, on_failure or always for 'when' in 'artifacts'"
                " of job 'unit', found an integer (1)"
            ],
        ),
        (
            "{path: [a]}",
            [
                "p.yml:10:16: missing required key 'paths' in 'artifacts' of job 'unit'",
                "p.yml:10:17: unknown key 'path' in 'artifacts' of job 'unit'"
                " (did you mean 'paths'?)",
            ],
        ),
    ],
)
def test_bad_artifacts(value: str, expected: list[str]) -> None:
    assert job_errors(f"  script: [x]\n  artifacts: {value}\n") == expected


# --- variables --------------------------------------------------------------------------


def test_variable_values_are_stringified_as_gitlab_does() -> None:
    resolved = job(
        "  script: [x]\n  variables: {S: text, I: 42, F: 1.5, T: true, N: no, _X1: ''}\n"
    )
    assert resolved["variables"] == {
        "S": "text",
        "I": "42",
        "F": "1.5",
        "T": "true",
        "N": "no",
        "_X1": "",
    }


def test_bad_variables() -> None:
    body = (
        "  script: [x]\n  variables:\n"
        "    1A: x\n    MY-VAR: y\n    OK: [1]\n    NUL:\n    D: 2024-01-01\n"
    )
    assert job_errors(body) == [
        "p.yml:11:7: invalid variable name '1A' in job 'unit';"
        " use letters, digits and '_', not starting with a digit",
        "p.yml:12:7: invalid variable name 'MY-VAR' in job 'unit';"
        " use letters, digits and '_', not starting with a digit",
        "p.yml:13:11: expected a string, number or boolean for 'variables.OK' in job 'unit',"
        " found a list",
        "p.yml:15:10: expected a string, number or boolean for 'variables.D' in job 'unit',"
        " found a date (2024-01-01) (quote it to make it a string)",
    ]


def test_a_null_variable_is_empty_as_in_gitlab() -> None:
    assert job("  script: [x]\n  variables:\n    X: null\n    Y: ~\n    Z:\n")["variables"] == {
        "X": "",
        "Y": "",
        "Z": "",
    }


def test_the_long_variable_form_and_expand_false() -> None:
    body = (
        "  script: [x]\n  variables:\n"
        "    A: {value: '$HOME/x', description: where}\n"
        "    B: {value: '$HOME/y', expand: false}\n"
    )
    assert job(body)["variables"] == {"A": "$HOME/x", "B": "$$HOME/y"}


def test_variables_must_be_a_mapping() -> None:
    assert job_errors("  script: [x]\n  variables: [A=1]\n") == [
        "p.yml:10:16: expected a mapping for 'variables' in job 'unit', found a list"
    ]
