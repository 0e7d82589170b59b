"""Reading one job (or ``default``) of either format: every keyword to a typed value.

A :class:`JobDraft` holds what a job says itself, each keyword's value read by its
reader (:mod:`fields`, :mod:`keywords`, :mod:`needs`, :mod:`rules`, :mod:`matrix`).
Nothing is inherited or decided here; :mod:`xxci.common.spec.assemble` does that.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from xxci.common.spec import environments, fields, keywords, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.matrix import read_parallel
from xxci.common.spec.needs import read_dependencies, read_needs, read_start_in, read_when
from xxci.common.spec.rules import read_only_except, read_rules
from xxci.common.spec.secrets import read_secrets
from xxci.common.spec.tree import Entry, Loc, Map, Seq

__all__ = [
    "DEFAULT_KEYS",
    "GITLAB_DEFAULT_KEYS",
    "JOB_KEYS",
    "NOTED_KEYS",
    "JobDraft",
    "read_job_keys",
    "read_settings",
]


def _commands(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    """``before_script``/``after_script``: like ``script``, but may be empty (``[]``
    turns off what ``default`` sets)."""
    if isinstance(entry.value, Seq) and not fields.flatten(entry.value).items:
        return ()
    return fields.script(c, entry, where)


READERS: Mapping[str, Callable[[Collector, Entry, str], Any]] = {
    "image": keywords.image,
    "variables": fields.variables,
    "timeout": fields.duration,
    "allow_failure": fields.allow_failure,
    "retry": keywords.retry,
    "tags": fields.strings,
    "before_script": _commands,
    "after_script": _commands,
    "services": keywords.services,
    "cache": keywords.cache,
    "secrets": read_secrets,
    "interruptible": keywords.boolean,
    "artifacts": fields.artifacts,
    "script": fields.script,
    "needs": read_needs,
    "dependencies": read_dependencies,
    "rules": read_rules,
    "only": read_only_except,
    "except": read_only_except,
    "when": read_when,
    "start_in": read_start_in,
    "parallel": read_parallel,
    "coverage": keywords.coverage,
    "resource_group": fields.string,
    "environment": environments.environment,
    "release": keywords.release,
    "inherit": keywords.inherit,
    "manual_confirmation": fields.string,
}
DEFAULT_KEYS = (
    "image",
    "variables",
    "timeout",
    "allow_failure",
    "retry",
    "tags",
    "before_script",
    "after_script",
    "services",
    "cache",
    "secrets",
    "interruptible",
    "artifacts",
)
"""What ``default:`` of a ``.pipelines/`` file may set for every job."""
GITLAB_DEFAULT_KEYS = tuple(k for k in DEFAULT_KEYS if k not in ("variables", "allow_failure"))
"""What ``default:`` of a ``.gitlab-ci.yml`` may set (variables are top-level there)."""
JOB_KEYS = (*READERS, "stage", "extends")
NOTED_KEYS = ("interruptible", "environment", "release", "manual_confirmation")
"""Accepted, shown by ``dry-run``, and noted by ``check`` as not acted on."""


@dataclass
class JobDraft:
    """One job as written: its name, stage and each keyword's value (None: invalid)."""

    where: str
    anchor: Loc
    node: Map
    name: str | None = None
    name_loc: Loc = field(default_factory=Loc)
    stage: str | None = None
    stage_loc: Loc | None = None
    values: dict[str, Any] = field(default_factory=dict)
    present: frozenset[str] = frozenset()

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value


def read_settings(
    c: Collector, node: Map, where: str, keys: Collection[str]
) -> tuple[dict[str, Any], frozenset[str]]:
    """Each of ``keys`` that ``node`` sets, read (None where invalid), and the set of
    keys present."""
    values: dict[str, Any] = {}
    present = set()
    for key in keys:
        entry = node.get(key)
        if entry is None or key not in READERS:
            continue
        present.add(key)
        values[key] = READERS[key](c, entry, where)
    return values, frozenset(present)


def read_job_keys(c: Collector, draft: JobDraft, extra_keys: Collection[str] = ()) -> JobDraft:
    """Check the job's keys and read every one of them into ``draft``."""
    node, where = draft.node, draft.where
    known = (*JOB_KEYS, *extra_keys)
    for entry in node:
        if isinstance(entry.key, str) and entry.key in km.NOT_RUNNABLE:
            c.error(entry.key_loc, km.not_runnable(entry.key, where, km.NOT_RUNNABLE[entry.key]))
    runnable = [e for e in node if not (isinstance(e.key, str) and e.key in km.NOT_RUNNABLE)]
    fields.check_keys(c, Map(tuple(runnable), node.loc), where, known)
    stage_entry = node.get("stage")
    if stage_entry is not None:
        draft.stage = fields.string(c, stage_entry, where)
        draft.stage_loc = stage_entry.value.loc
    draft.values, draft.present = read_settings(c, node, where, READERS)
    missing = node.get("script") is None and node.get("trigger") is None
    if missing and not fields.misspelled(node, "script", known):
        c.error(draft.anchor, messages.missing_key("script", where))
    _check_combinations(c, draft)
    for key in NOTED_KEYS:
        if (noted := node.get(key)) is not None:
            c.note(noted.key_loc, km.not_acted_on(key, where))
    return draft


def _check_combinations(c: Collector, draft: JobDraft) -> None:
    node, where = draft.node, draft.where
    if node.get("rules") is not None:
        for key in ("only", "except"):
            if (entry := node.get(key)) is not None:
                c.error(entry.key_loc, f"'{key}' cannot be used with 'rules' in {where}")
    start_in = node.get("start_in")
    if start_in is not None and draft.values.get("when") not in (None, "delayed"):
        c.error(start_in.key_loc, f"'start_in' in {where} needs 'when: delayed'")
    when = node.get("when")
    delayed = draft.values.get("when") == "delayed"
    if when is not None and delayed and start_in is None and node.get("rules") is None:
        c.error(when.value.loc, f"'when: delayed' in {where} needs 'start_in'")
