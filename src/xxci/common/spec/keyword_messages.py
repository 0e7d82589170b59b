"""The messages of the GitLab keywords (templates, includes, rules, images, services,
caches, ``parallel``), printed like every other as ``<file>:<line>:<column>: <message>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from xxci.common.spec.messages import did_you_mean
from xxci.common.spec.tree import shorten as _q


def choice(key: str, where: str, value: str, choices: Iterable[str]) -> str:
    known = list(choices)
    return (
        f"invalid '{key}' '{_q(value)}' in {where}; expected {', '.join(known)}"
        f"{did_you_mean(value, known)}"
    )


def not_runnable(key: str, where: str, why: str) -> str:
    return f"'{key}' in {where} cannot be run by xxci: {why}"


NOT_RUNNABLE = {
    "trigger": "it starts a pipeline in GitLab (a child or another project's)",
    "id_tokens": "it needs GitLab to sign OIDC tokens",
    "hooks": "xxci does not fetch sources with git in the job",
    "dast_configuration": "it needs GitLab's DAST profiles",
    "identity": "it needs GitLab's cloud identity federation",
    "pages": "it publishes to GitLab Pages",
    "run": "CI steps are not supported; use script",
    "inputs": "inputs of CI components are not supported",
}


def unsupported_include(kind: str, value: str) -> str:
    return (
        f"include '{kind}' ({_q(value)}) is not supported: xxci only includes files of"
        " the repository (include: local)"
    )


def include_not_found(path: str) -> str:
    return f"included file '{_q(path)}' does not exist in the repository"


LAST_WINS = "; the last value is used, as GitLab reads the file"


def include_not_yaml(path: str) -> str:
    return f"included file '{_q(path)}' does not have a YAML extension (.yml or .yaml)"


def include_outside(path: str) -> str:
    return f"included file '{_q(path)}' must be inside the repository"


def include_cycle(path: str) -> str:
    return f"'{_q(path)}' includes itself (through the files that include it)"


def include_not_mapping(path: str) -> str:
    return f"included file '{_q(path)}' is not a mapping of jobs and keywords"


TOO_MANY_INCLUDES = "more than 150 included files; GitLab's limit is 150"


def extends_unknown(job: str, parent: str, known: Iterable[str]) -> str:
    return f"job '{_q(job)}' extends unknown '{_q(parent)}'{did_you_mean(parent, known)}"


def extends_cycle(names: Iterable[str]) -> str:
    return "circular 'extends': " + " -> ".join(_q(n) for n in names)


def extends_too_deep(job: str) -> str:
    return f"'extends' of job '{_q(job)}' is nested more than 11 levels deep"


def extends_not_mapping(job: str, parent: str) -> str:
    return f"job '{_q(job)}' extends '{_q(parent)}', which is not a mapping"


def reference_shape() -> str:
    return "!reference takes a list of names: [job, key, ...]"


def reference_unknown(path: Iterable[str], missing: str) -> str:
    return f"!reference [{', '.join(_q(p) for p in path)}]: '{_q(missing)}' does not exist"


def reference_too_deep() -> str:
    return "!reference is nested more than 10 levels deep"


def reference_cycle(path: Iterable[str]) -> str:
    return f"!reference [{', '.join(_q(p) for p in path)}] refers to itself"


def unknown_tag(tag: str) -> str:
    return f"unknown YAML tag {tag}; only !reference is supported"


def invalid_expression(where: str, problem: str) -> str:
    return f"invalid expression in 'if' of {where}: {problem}"


def invalid_image(image: str, where: str, written: str) -> str:
    origin = f" ('{_q(written)}' expanded)" if written != image else ""
    return (
        f"invalid image reference '{_q(image)}'{origin} in {where};"
        " expected [registry/]name[:tag][@digest] in lowercase"
    )


def empty_image(written: str, where: str) -> str:
    return f"image '{_q(written)}' in {where} expands to nothing (its variables are not defined)"


def invalid_regex(key: str, where: str, problem: str) -> str:
    return f"invalid '{key}' in {where}: {problem}"


def needs_excluded(job: str, need: str) -> str:
    return (
        f"job '{_q(job)}' needs '{_q(need)}', which is not in the run (its rules,"
        " only or except leave it out); use needs:optional for a job that is not always there"
    )


def needs_matrix_none(job: str, need: str) -> str:
    return f"job '{_q(job)}' needs '{_q(need)}' with a matrix that matches none of its jobs"


def dependency_not_earlier(job: str, name: str) -> str:
    return (
        f"job '{_q(job)}' lists '{_q(name)}' in 'dependencies', which is not in an earlier"
        " stage or in its needs"
    )


def dependency_not_needed(job: str, name: str) -> str:
    return (
        f"job '{_q(job)}' lists '{_q(name)}' in 'dependencies', which should be part of its needs"
    )


def dependency_unknown(job: str, name: str, known: Iterable[str]) -> str:
    return (
        f"job '{_q(job)}' lists unknown job '{_q(name)}' in 'dependencies'"
        f"{did_you_mean(name, known)}"
    )


def parallel_range(where: str, value: int) -> str:
    return f"'parallel' in {where} must be between 1 and 200, found {value}"


def matrix_too_big(where: str, count: int) -> str:
    return f"'parallel: matrix' in {where} makes {count} jobs; at most 200 are allowed"


def stage_misplaced(stage: str) -> str:
    where = "first" if stage == ".pre" else "last"
    return f"stage '{stage}' must be the {where} stage"


def no_stage(job: str, stage: str, stages: Iterable[str]) -> str:
    return (
        f"job '{_q(job)}' has no 'stage' and there is no stage '{stage}' to default to"
        f" (stages: {', '.join(_q(s) for s in stages)})"
    )


def not_acted_on(key: str, where: str) -> str:
    return f"'{key}' in {where} is accepted and shown by dry-run, but xxci does not act on it"


def variable_in_default() -> str:
    return "'variables' cannot be set in 'default' of a .gitlab-ci.yml; set them at the top level"


def job_without_script(where: str) -> str:
    return f"missing required key 'script' in {where}"


def top_level_not_job(key: str, found: str) -> str:
    return (
        f"top-level key '{_q(key)}' is neither a keyword nor a job (a mapping with"
        f" 'script'), found {found}"
    )


def cache_key_files(where: str) -> str:
    return f"'key: files' of the cache of {where} lists one or two files"


def duplicate_expanded(name: str) -> str:
    return f"'parallel' makes a job named '{_q(name)}', which another job already has"
