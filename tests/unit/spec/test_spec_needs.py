"""``needs``: unknown jobs, later stages, repeats and cycles."""

from __future__ import annotations

from .helpers import errors, load, with_jobs


def test_needs_on_the_same_or_an_earlier_stage_are_fine() -> None:
    pipeline = load(
        with_jobs(
            """\
            - {name: compile, stage: build, script: [make]}
            - {name: lint, stage: test, script: [lint]}
            - {name: unit, stage: test, needs: [compile, lint], script: [make test]}
            """
        )
    )
    assert pipeline.job("unit").needs == ("compile", "lint")


def test_unknown_later_and_repeated_needs() -> None:
    text = with_jobs(
        """\
        - name: compile
          stage: build
          needs: [unit, compil, lint, nothing, lint]
          script: [make]
        - {name: lint, stage: build, script: [lint]}
        - {name: unit, stage: test, script: [make test]}
        """
    )
    assert errors(text) == [
        "p.yml:9:13: job 'compile' needs 'unit', which runs in a later stage ('test')",
        "p.yml:9:19: job 'compile' needs unknown job 'compil' (did you mean 'compile'?)",
        "p.yml:9:33: job 'compile' needs unknown job 'nothing'",
        "p.yml:9:42: job 'compile' lists 'lint' in 'needs' more than once",
    ]


def test_needs_must_be_a_list_of_names() -> None:
    text = with_jobs("- {name: unit, stage: test, needs: compile, script: x}\n", stages="[test]")
    assert errors(text) == [
        "p.yml:7:38: expected a list of job names for 'needs' in job 'unit', found 'compile'"
    ]


def test_a_self_cycle() -> None:
    text = with_jobs(
        """\
        - {name: compile, stage: build, script: [make]}
        - {name: unit, stage: test, needs: [unit], script: [make test]}
        """
    )
    assert errors(text) == ["p.yml:8:39: cycle in needs: unit -> unit"]


def test_each_cycle_is_reported_once_from_the_first_job_defined() -> None:
    text = with_jobs(
        """\
        - {name: compile, stage: build, script: [make]}
        - {name: c, stage: test, needs: [a], script: [x]}
        - {name: a, stage: test, needs: [b], script: [x]}
        - {name: b, stage: test, needs: [c], script: [x]}
        - {name: x, stage: test, needs: [y], script: [x]}
        - {name: y, stage: test, needs: [x], script: [x]}
        """
    )
    assert errors(text) == [
        "p.yml:8:36: cycle in needs: c -> a -> b -> c",
        "p.yml:11:36: cycle in needs: x -> y -> x",
    ]


def test_a_job_with_other_errors_still_takes_part_in_the_graph() -> None:
    text = with_jobs(
        """\
        - {name: compile, stage: build, script: [make], timeout: never}
        - {name: unit, stage: test, needs: [compile, compiel], script: [make test]}
        """
    )
    assert errors(text) == [
        "p.yml:7:60: invalid duration 'never' for 'timeout' in job 'compile';"
        " expected e.g. 90s, 30m, 1h 30m or a number of seconds",
        "p.yml:8:48: job 'unit' needs unknown job 'compiel' (did you mean 'compile'?)",
    ]
