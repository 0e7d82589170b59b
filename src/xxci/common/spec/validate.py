"""A parsed pipeline file to a :class:`Pipeline`, or every reason it is not one.

The document is read section by section (``pipeline``, ``stages``, ``default``,
``jobs``); each problem becomes a diagnostic and reading goes on. The job graph rules
(:mod:`xxci.common.spec.graph`) then run over every job that has a name. Only a file
without a single diagnostic becomes a :class:`Pipeline`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar

from xxci.common.errors import SpecError
from xxci.common.spec import fields, messages
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import GraphJob, StageList, check_graph
from xxci.common.spec.model import (
    DEFAULT_STAGES,
    DEFAULT_TIMEOUT_SECONDS,
    AllowFailure,
    Artifacts,
    Job,
    Pipeline,
)
from xxci.common.spec.parser import Document
from xxci.common.spec.tree import Loc, Map, Scalar, Seq, describe, shorten

TOP_LEVEL_KEYS = ("pipeline", "stages", "default", "jobs")
PIPELINE_KEYS = ("name",)
DEFAULT_KEYS = ("image", "variables", "timeout", "allow_failure", "retry", "tags")
JOB_KEYS = ("name", "stage", "script", "needs", "artifacts", *DEFAULT_KEYS)
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
FALLBACK_STAGE = "test"
"""A job without ``stage`` runs in ``test`` (as in GitLab) when there is such a stage."""
T = TypeVar("T")


@dataclass
class _Settings:
    """The keys a job may inherit from ``default``: None where not set (or invalid)."""

    image: str | None = None
    variables: dict[str, str] | None = None
    timeout: int | None = None
    allow_failure: AllowFailure | None = None
    retry: int | None = None
    tags: tuple[str, ...] | None = None
    present: frozenset[str] = frozenset()
    """The keys the section sets (valid or not)."""


@dataclass
class _Draft:
    """One job as read, before defaults are applied."""

    where: str
    anchor: Loc
    node: Map
    name: str | None = None
    name_loc: Loc = field(default_factory=Loc)
    stage: str | None = None
    stage_loc: Loc | None = None
    script: tuple[str, ...] | None = None
    needs: tuple[tuple[str, Loc], ...] = ()
    artifacts: Artifacts | None = None
    settings: _Settings = field(default_factory=_Settings)


def build_pipeline(document: Document) -> Pipeline:
    """Validate ``document`` and resolve it; raise :class:`SpecError` with every problem."""
    c = Collector(document.file)
    c.diagnostics.extend(document.duplicates)
    root = document.root
    fields.check_keys(c, root, "", TOP_LEVEL_KEYS, hidden_ok=True)
    name = _pipeline_name(c, root)
    stages = _stages(c, root)
    defaults = _defaults(c, root)
    drafts, all_read = _jobs(c, root, [stage for stage, _ in stages.names] if stages else None)
    graph_jobs = [
        GraphJob(d.name, d.name_loc, d.stage, d.stage_loc or d.anchor, d.needs)
        for d in drafts
        if d.name is not None
    ]
    all_read = all_read and len(graph_jobs) == len(drafts)
    check_graph(c, stages, graph_jobs, all_jobs_read=all_read)
    jobs = [_resolve(c, draft, defaults) for draft in drafts]
    if c.diagnostics or name is None or stages is None:
        raise SpecError(c.diagnostics)
    used = {job.stage for job in jobs if job}
    return Pipeline(
        name=name,
        stages=tuple(s for s, _ in stages.names if stages.explicit or s in used),
        jobs=tuple(job for job in jobs if job),
        source_file=document.file,
    )


def pipeline_name(root: Map) -> tuple[str, Loc] | None:
    """``pipeline.name`` and where it is, if it is a string (no other checks)."""
    section = root.get("pipeline")
    entry = section.value.get("name") if section and isinstance(section.value, Map) else None
    if entry and isinstance(entry.value, Scalar) and isinstance(entry.value.value, str):
        return entry.value.value, entry.value.loc
    return None


def _pipeline_name(c: Collector, root: Map) -> str | None:
    entry = root.get("pipeline")
    if entry is None:
        c.error(root.loc, messages.missing_key("pipeline", ""))
        return None
    section = fields.mapping(c, entry, "")
    if section is None:
        return None
    fields.check_keys(c, section, "'pipeline'", PIPELINE_KEYS)
    name_entry = section.get("name")
    if name_entry is None:
        if not fields.misspelled(section, "name", PIPELINE_KEYS):
            c.error(section.loc, messages.missing_key("name", "'pipeline'"))
        return None
    name = fields.string(c, name_entry, "'pipeline'")
    if name is not None and not PIPELINE_NAME.fullmatch(name):
        c.error(name_entry.value.loc, messages.invalid_pipeline_name(shorten(name)))
        return None
    return name


def _stages(c: Collector, root: Map) -> StageList | None:
    entry = root.get("stages")
    if entry is None:
        return StageList(tuple((stage, Loc()) for stage in DEFAULT_STAGES), explicit=False)
    if not isinstance(entry.value, Seq):
        fields.wrong_type(c, entry, "", "a list of stage names")
        return None
    if not entry.value.items:
        c.error(entry.value.loc, messages.EMPTY_STAGES)
        return None
    names: dict[str, Loc] = {}
    for item in entry.value.items:
        if not (isinstance(item, Scalar) and isinstance(item.value, str)):
            c.error(item.loc, messages.stage_not_a_string(describe(item)))
        elif not item.value.strip():
            c.error(item.loc, messages.EMPTY_STAGE_NAME)
        elif item.value in names:
            c.error(item.loc, messages.duplicate_stage(item.value, names[item.value].line))
        else:
            names[item.value] = item.loc
    return StageList(tuple(names.items()), explicit=True)


def _defaults(c: Collector, root: Map) -> _Settings:
    entry = root.get("default")
    section = fields.mapping(c, entry, "") if entry else None
    if section is None:
        return _Settings()
    job_only = [key for key in JOB_KEYS if key not in DEFAULT_KEYS]
    fields.check_keys(c, section, "'default'", DEFAULT_KEYS, job_only=job_only)
    return _settings(c, section, "'default'")


def _settings(c: Collector, node: Map, where: str) -> _Settings:
    def read(key: str, reader: fields.Reader[fields.T]) -> fields.T | None:
        entry = node.get(key)
        return None if entry is None else reader(c, entry, where)

    return _Settings(
        image=read("image", fields.string),
        variables=read("variables", fields.variables),
        timeout=read("timeout", fields.duration),
        allow_failure=read("allow_failure", fields.allow_failure),
        retry=read("retry", fields.retry),
        tags=read("tags", fields.strings),
        present=frozenset(key for key in DEFAULT_KEYS if node.get(key) is not None),
    )


def _jobs(c: Collector, root: Map, stages: list[str] | None) -> tuple[list[_Draft], bool]:
    """Read every job; the flag is False when some job could not be read at all.

    ``stages`` (None if invalid) decides whether a job without ``stage`` may default.
    """
    entry = root.get("jobs")
    if entry is None:
        c.error(root.loc, messages.missing_key("jobs", ""))
        return [], False
    node = entry.value
    if isinstance(node, Seq | Map) and not _visible(node):
        c.error(node.loc, messages.EMPTY_JOBS)
        return [], False
    if isinstance(node, Seq):
        return _job_list(c, node, stages)
    if isinstance(node, Map):
        return _job_mapping(c, node, stages)
    fields.wrong_type(c, entry, "", "a list of jobs")
    return [], False


def _visible(node: Seq | Map) -> bool:
    if isinstance(node, Seq):
        return bool(node.items)
    return any(not _hidden(entry.key) for entry in node)


def _hidden(key: object) -> bool:
    return isinstance(key, str) and key.startswith(".")


def _job_list(c: Collector, node: Seq, stages: list[str] | None) -> tuple[list[_Draft], bool]:
    drafts = []
    for number, item in enumerate(node.items, start=1):
        if not isinstance(item, Map):
            c.error(item.loc, messages.job_not_a_mapping(describe(item)))
            continue
        draft = _Draft(where=f"job #{number}", anchor=item.loc, node=item)
        name_entry = item.get("name")
        if name_entry is None:
            c.error(item.loc, messages.missing_key("name", draft.where))
        else:
            draft.name = fields.string(c, name_entry, draft.where)
            draft.name_loc = name_entry.value.loc
        drafts.append(_read_job(c, draft, stages))
    return drafts, len(drafts) == len(node.items)


def _job_mapping(c: Collector, node: Map, stages: list[str] | None) -> tuple[list[_Draft], bool]:
    drafts = []
    all_read = True
    for entry in node:
        if _hidden(entry.key):
            continue
        if not isinstance(entry.key, str) or not entry.key.strip():
            c.error(entry.key_loc, messages.job_key_not_a_string(shorten(entry.name)))
            all_read = False
            continue
        if not isinstance(entry.value, Map):
            fields.wrong_type(c, entry, "'jobs'", "a job (a mapping)")
            all_read = False
            continue
        draft = _Draft(
            where=f"job '{shorten(entry.key)}'",
            anchor=entry.key_loc,
            node=entry.value,
            name=entry.key,
            name_loc=entry.key_loc,
        )
        name_entry = entry.value.get("name")
        if name_entry is not None:
            inner = fields.string(c, name_entry, draft.where)
            if inner is not None and inner != entry.key:
                c.error(name_entry.value.loc, messages.job_name_mismatch(inner, entry.key))
        drafts.append(_read_job(c, draft, stages))
    return drafts, all_read


def _read_job(c: Collector, draft: _Draft, stages: list[str] | None) -> _Draft:
    if draft.name is not None:
        draft.where = f"job '{shorten(draft.name)}'"
    node, where = draft.node, draft.where
    fields.check_keys(c, node, where, JOB_KEYS)
    stage_entry = node.get("stage")
    if stage_entry is not None:
        draft.stage = fields.string(c, stage_entry, where)
        draft.stage_loc = stage_entry.value.loc
    elif stages is not None and FALLBACK_STAGE in stages:
        draft.stage = FALLBACK_STAGE
    elif stages is not None and not fields.misspelled(node, "stage", JOB_KEYS):
        c.error(draft.anchor, messages.missing_stage(where))
    script_entry = node.get("script")
    if script_entry is None:
        if not fields.misspelled(node, "script", JOB_KEYS):
            c.error(draft.anchor, messages.missing_key("script", where))
    else:
        draft.script = fields.script(c, script_entry, where)
    needs_entry = node.get("needs")
    if needs_entry is not None:
        needs = fields.located_strings(c, needs_entry, where, "a list of job names")
        draft.needs = tuple(needs or ())
    artifacts_entry = node.get("artifacts")
    if artifacts_entry is not None:
        draft.artifacts = fields.artifacts(c, artifacts_entry, where)
    draft.settings = _settings(c, node, where)
    return draft


def _resolve(c: Collector, draft: _Draft, defaults: _Settings) -> Job | None:
    """The job with ``default`` merged in, or None if something is missing or invalid."""
    own = draft.settings
    image = own.image or defaults.image
    if "image" not in own.present | defaults.present and not fields.misspelled(
        draft.node, "image", JOB_KEYS
    ):
        c.error(draft.anchor, messages.missing_image(draft.where))
    if draft.name is None or draft.stage is None or image is None or draft.script is None:
        return None
    return Job(
        name=draft.name,
        stage=draft.stage,
        image=image,
        script=draft.script,
        needs=tuple(need for need, _ in draft.needs),
        allow_failure=_first(own.allow_failure, defaults.allow_failure, AllowFailure()),
        artifacts=draft.artifacts,
        variables={**(defaults.variables or {}), **(own.variables or {})},
        timeout_seconds=_first(own.timeout, defaults.timeout, DEFAULT_TIMEOUT_SECONDS),
        retry=_first(own.retry, defaults.retry, 0),
        tags=_first(own.tags, defaults.tags, ()),
    )


def _first(*values: T | None) -> T:
    return next(value for value in values if value is not None)
