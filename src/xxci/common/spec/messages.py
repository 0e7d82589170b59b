"""The messages of the pipeline loader, in one place.

Each is printed as ``<file>:<line>:<column>: <message>``. ``where`` names the part of
the file concerned (``"job 'build'"``, ``"'default'"``, ``"'artifacts' of job
'build'"``, or ``""`` for the top level); a value that came from ``--override`` gets
:data:`FROM_OVERRIDE` appended. The command-line messages at the end are raised as
:class:`~xxci.common.errors.UsageError` (exit code 2, printed as ``error: <message>``).
The messages of the GitLab keywords are in :mod:`keyword_messages`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from xxci.common.spec.tree import shorten

FROM_OVERRIDE = " (from --override)"
TOP_LEVEL_SHAPE = "a mapping with 'pipeline', 'stages' and 'jobs'"

EMPTY_FILE = f"the file is empty; expected {TOP_LEVEL_SHAPE}"
SEVERAL_DOCUMENTS = "the file holds more than one YAML document; expected exactly one"
EMPTY_STAGES = "'stages' is empty; expected at least one stage name"
EMPTY_STAGE_NAME = "empty stage name in 'stages'"
EMPTY_JOBS = "'jobs' is empty; expected at least one job"


def _in(where: str) -> str:
    return f" in {where}" if where else ""


def _q(text: str) -> str:
    """A value from the file, fit to quote in a one-line message."""
    return shorten(text)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss among ``candidates``, else ``""``."""
    near = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{_q(near[0])}'?)" if near else ""


def not_a_mapping(found: str) -> str:
    return f"expected {TOP_LEVEL_SHAPE} at the top level, found {found}"


def invalid_yaml(problem: str, context: str | None = None) -> str:
    return f"invalid YAML: {problem}" + (f" ({context})" if context else "")


def too_deep(limit: int) -> str:
    return f"the file nests mappings and lists more than {limit} deep, the limit"


def nul_in_text(text: str) -> str:
    return f"'{_q(text)}' holds a NUL character, which no name or value may hold"


def surrogate_in_text(text: str, char: str) -> str:
    return (
        f"'{_q(text)}' is not valid Unicode: it holds \\u{ord(char):04x}, half of a "
        "character (a lone surrogate)"
    )


def too_many_jobs(limit: int) -> str:
    return f"more than {limit} jobs in the run, the limit; this job and those after it are not read"


def too_many_needs(job: str, limit: int) -> str:
    return f"job '{_q(job)}' needs more than {limit} jobs, the limit"


def cannot_read(reason: str) -> str:
    return f"cannot read the file: {reason}"


def nested_too_deep(key: str, where: str, limit: int) -> str:
    return f"'{key}' of {where} nests lists more than {limit} levels deep (GitLab's limit)"


def duplicate_key(key: str, first_line: int) -> str:
    return f"duplicate key '{_q(key)}' (first defined at line {first_line})"


def unknown_key(key: str, where: str, known: Iterable[str]) -> str:
    return f"unknown key '{_q(key)}'{_in(where)}{did_you_mean(key, known)}"


def job_only_key(key: str) -> str:
    return f"'{_q(key)}' cannot be set in 'default'; set it on each job"


def missing_key(key: str, where: str) -> str:
    return f"missing required key '{_q(key)}'{_in(where)}"


def wrong_type(key: str, where: str, expected: str, found: str, *, quote_hint: bool = False) -> str:
    hint = " (quote it to make it a string)" if quote_hint else ""
    return f"expected {expected} for '{_q(key)}'{_in(where)}, found {found}{hint}"


def empty_value(key: str, where: str) -> str:
    return f"empty '{_q(key)}'{_in(where)}"


def empty_entry(key: str, where: str) -> str:
    return f"empty entry in '{_q(key)}'" + (f" of {where}" if where else "")


def invalid_pipeline_name(name: str) -> str:
    return (
        f"invalid pipeline name '{_q(name)}'; use letters, digits, '.', '_' and '-',"
        " starting with a letter or digit"
    )


def duplicate_pipeline_name(name: str, other_file: str) -> str:
    return f"duplicate pipeline name '{_q(name)}' (also in {other_file})"


def stage_not_a_string(found: str) -> str:
    return f"expected a stage name (a string) in 'stages', found {found}"


def duplicate_stage(name: str, first_line: int) -> str:
    return f"duplicate stage '{_q(name)}' (first listed at line {first_line})"


def empty_stage(name: str) -> str:
    return f"stage '{_q(name)}' has no jobs"


def job_not_a_mapping(found: str) -> str:
    return f"expected a job (a mapping) in 'jobs', found {found}"


def job_key_not_a_string(found: str) -> str:
    return f"expected a job name (a non-empty string) as a key of 'jobs', found '{_q(found)}'"


def duplicate_job(name: str, first_line: int) -> str:
    return f"duplicate job name '{_q(name)}' (first defined at line {first_line})"


def job_name_mismatch(name: str, key: str) -> str:
    return f"job name '{_q(name)}' does not match its key '{_q(key)}'"


def undefined_stage(job: str, stage: str, stages: Iterable[str]) -> str:
    known = list(stages)
    hint = did_you_mean(stage, known) or f" (stages: {', '.join(_q(k) for k in known)})"
    return f"job '{_q(job)}' is in undefined stage '{_q(stage)}'{hint}"


def missing_stage(where: str) -> str:
    return f"missing required key 'stage' in {where} (there is no stage 'test' to default to)"


def missing_image(where: str) -> str:
    return f"missing required key 'image' in {where} (and 'default' sets no image)"


def unknown_need(job: str, need: str, jobs: Iterable[str]) -> str:
    return f"job '{_q(job)}' needs unknown job '{_q(need)}'{did_you_mean(need, jobs)}"


def later_need(job: str, need: str, stage: str) -> str:
    return f"job '{_q(job)}' needs '{_q(need)}', which runs in a later stage ('{_q(stage)}')"


def duplicate_need(job: str, need: str) -> str:
    return f"job '{_q(job)}' lists '{_q(need)}' in 'needs' more than once"


def cycle(names: Iterable[str]) -> str:
    return "cycle in needs: " + " -> ".join(_q(name) for name in names)


def invalid_duration(key: str, where: str, text: str) -> str:
    return (
        f"invalid duration '{_q(text)}' for '{_q(key)}'{_in(where)};"
        " expected e.g. 90s, 30m, 1h 30m or a number of seconds"
    )


def duration_too_short(key: str, where: str) -> str:
    return f"'{_q(key)}'{_in(where)} must be at least 1 second"


def duration_too_long(key: str, where: str, maximum: str) -> str:
    return f"'{_q(key)}'{_in(where)} must be at most {maximum}"


def retry_out_of_range(where: str, value: int, maximum: int) -> str:
    return f"'retry'{_in(where)} must be between 0 and {maximum}, found {value}"


def exit_code_out_of_range(where: str, code: int) -> str:
    return f"exit code {code} in 'allow_failure' of {where} is out of range (1-255)"


def empty_exit_codes(where: str) -> str:
    return f"'exit_codes' in 'allow_failure' of {where} is empty; list at least one exit code"


def invalid_when(where: str, value: str, choices: Iterable[str]) -> str:
    known = list(choices)
    return (
        f"invalid 'when' '{_q(value)}' in 'artifacts' of {where};"
        f" expected on_success, on_failure or always{did_you_mean(value, known)}"
    )


def artifact_path_outside(path: str, where: str) -> str:
    return f"artifact path '{_q(path)}'{_in(where)} must be relative and stay inside the workspace"


def invalid_variable_name(name: str, where: str) -> str:
    return (
        f"invalid variable name '{_q(name)}'{_in(where)};"
        " use letters, digits and '_', not starting with a digit"
    )


# --- command line (UsageError) ---------------------------------------------------------


def invalid_override(text: str, problem: str) -> str:
    return f"invalid --override '{_q(text)}': {problem}"


def override_into_non_mapping(text: str, path: str, found: str) -> str:
    return f"cannot apply --override '{_q(text)}': '{_q(path)}' is {found}, not a mapping"


BOTH_SELECTORS = "--file and --pipeline cannot be used together; choose one"
NOT_IN_REPOSITORY = "not inside a git repository; pass --repo PATH or --file PATH"


def no_such_file(path: str) -> str:
    return f"no such file: {path}"


def no_such_repo(path: str) -> str:
    return f"--repo {path}: no such folder"


def no_pipelines_dir(repo: str) -> str:
    return f"no .pipelines/ folder or .gitlab-ci.yml in {repo}"


def no_pipeline_files(folder: str) -> str:
    return f"no pipeline files (*.yml, *.yaml) in {folder}/"


def unknown_pipeline(name: str, known: list[str]) -> str:
    listed = ", ".join(_q(k) for k in known) if known else "none could be read"
    return f"no pipeline named '{_q(name)}' in the repository (known: {listed})"


def several_pipelines(files: list[str]) -> str:
    return (
        f".pipelines/ holds several pipelines ({', '.join(files)});"
        " choose one with --pipeline NAME or --file PATH"
    )
