"""A parsed pipeline file to a :class:`Pipeline`, or every reason it is not one.

Both formats go the same way: ``include`` merges the included files, unknown tags are
reported, ``extends`` and ``!reference`` are resolved, each job is read keyword by
keyword (:mod:`jobs`), and :mod:`assemble` decides the jobs of the run for its
context. Only the layout differs: a ``.pipelines/`` file names itself in
``pipeline:`` and lists its jobs under ``jobs:`` (:mod:`course`); a
``.gitlab-ci.yml`` has its jobs at the top level (:mod:`gitlab`). Only a file without
a single diagnostic becomes a :class:`Pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from xxci.common.errors import Diagnostic, SpecError
from xxci.common.spec import course, fields, gitlab, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.assemble import assemble_jobs
from xxci.common.spec.context import RunContext, predefined_variables
from xxci.common.spec.fields import Collector
from xxci.common.spec.includes import resolve_includes
from xxci.common.spec.jobs import JobDraft, read_job_keys
from xxci.common.spec.layout import Header, Layout
from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits
from xxci.common.spec.model import Job, Pipeline
from xxci.common.spec.parser import Document
from xxci.common.spec.rules import decide_rules, read_rules
from xxci.common.spec.secrets import masked_names
from xxci.common.spec.templates import check_tags, resolve_extends, resolve_references
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar

__all__ = ["build_pipeline", "build_with_notes", "pipeline_name"]


def build_pipeline(
    document: Document, context: RunContext | None = None, limits: SpecLimits = DEFAULT_LIMITS
) -> Pipeline:
    """Validate ``document`` for ``context`` and resolve it; raise :class:`SpecError`
    with every problem."""
    pipeline, c = _build(document, context or RunContext(), limits)
    if c.diagnostics or pipeline is None:
        raise SpecError(c.diagnostics)
    return pipeline


def build_with_notes(
    document: Document, context: RunContext, limits: SpecLimits = DEFAULT_LIMITS
) -> tuple[Pipeline | None, Collector]:
    """Like :func:`build_pipeline`, without raising: the pipeline (None if invalid) and
    the collector holding its diagnostics and notes."""
    return _build(document, context, limits)


def _build(
    document: Document, context: RunContext, limits: SpecLimits
) -> tuple[Pipeline | None, Collector]:
    layout = gitlab.LAYOUT if gitlab.is_gitlab(document) else course.LAYOUT
    c = Collector(document.file, limits)
    duplicates = _duplicates_reporter(c, layout.kind)
    duplicates(document.duplicates)
    c.diagnostics.extend(document.invalid)
    context_variables = {**predefined_variables(context), **context.variables}
    root = resolve_includes(
        c,
        document.root,
        context.files,
        context_variables,
        _include_rules(context_variables, context),
        layout.combine,
        document.file,
        duplicates,
    )
    check_tags(c, root)
    masked = masked_names(root)
    sources, templates, all_read = layout.jobs(c, root)
    if len(sources) > limits.max_jobs:
        c.error(sources[limits.max_jobs].anchor, messages.too_many_jobs(limits.max_jobs))
        sources = sources[: limits.max_jobs]
    extended = resolve_extends(c, templates)
    top: dict[str, Node] = {str(e.key): e.value for e in root if isinstance(e.key, str)}
    top.update({name: entry.value for name, entry in extended.items()})
    root = _resolved_root(c, root, top)
    header = layout.header(c, root, context, context_variables)
    drafts = []
    for source in sources:
        node = extended[source.name].value if source.name in extended else source.node
        if not isinstance(node, Map):
            continue
        node = resolve_references(c, node, top)
        assert isinstance(node, Map)
        draft = JobDraft(source.where, source.anchor, node, source.name, source.name_loc)
        drafts.append(
            _with_stage(c, read_job_keys(c, draft, layout.extra_job_keys), header, layout)
        )
    planned = assemble_jobs(c, drafts, header.stages, header.globals, context, all_read=all_read)
    if c.diagnostics or header.name is None or header.stages is None:
        return None, c
    used = {job.stage for job in planned.jobs}
    explicit = header.stages.explicit and layout.kind == "xxci"
    return (
        Pipeline(
            name=header.name,
            stages=tuple(s for s, _ in header.stages.names if explicit or s in used),
            jobs=tuple(planned.jobs),
            source_file=document.file,
            kind=layout.kind,
            excluded=tuple(planned.excluded),
            not_run=header.not_run or _nothing_to_run(planned.jobs, planned.excluded),
            context_variables=predefined_variables(context),
            masked_variables=masked,
        ),
        c,
    )


def _duplicates_reporter(c: Collector, kind: str) -> Callable[[Sequence[Diagnostic]], None]:
    """How repeated keys are reported: errors in a ``.pipelines/`` file; in a
    ``.gitlab-ci.yml`` notes, since GitLab takes the last value without a word."""

    def report(duplicates: Sequence[Diagnostic]) -> None:
        if kind == "xxci":
            c.diagnostics.extend(duplicates)
            return
        for d in duplicates:
            note = Diagnostic(d.file, d.line, d.column, "note: " + d.message + km.LAST_WINS)
            if note not in c.notes:
                c.notes.append(note)

    return report


def _nothing_to_run(jobs: Sequence[Job], excluded: Sequence[object]) -> str:
    real = [j for j in jobs if j.stage not in (".pre", ".post")]
    if real:
        return ""
    if not jobs and excluded:
        return "every job is left out by its rules, only or except"
    return "only .pre and .post jobs would run" if jobs else ""


def _resolved_root(c: Collector, root: Map, top: Mapping[str, Node]) -> Map:
    """The top-level sections that are not jobs, with their references resolved."""
    entries = []
    for entry in root:
        if entry.key in (
            "default",
            "variables",
            "workflow",
            "stages",
            "image",
            "before_script",
            "after_script",
            "services",
            "cache",
        ):
            entries.append(Entry(entry.key, entry.key_loc, resolve_references(c, entry.value, top)))
        else:
            entries.append(entry)
    return Map(tuple(entries), root.loc, root.tag)


def _with_stage(c: Collector, draft: JobDraft, header: Header, layout: Layout) -> JobDraft:
    if draft.stage is not None or draft.node.get("stage") is not None:
        return draft
    stages = header.stages
    if stages is None:
        return draft
    names = [name for name, _ in stages.names]
    if layout.default_stage in names:
        draft.stage = layout.default_stage
    elif not fields.misspelled(draft.node, "stage", ("stage",)):
        if layout.kind == "xxci":
            c.error(draft.anchor, messages.missing_stage(draft.where))
        else:
            c.error(draft.anchor, km.no_stage(draft.name or "", layout.default_stage, names))
    return draft


def _include_rules(
    variables: dict[str, str], context: RunContext
) -> Callable[[Collector, Entry, str], bool]:
    def check(c: Collector, entry: Entry, where: str) -> bool:
        rules = read_rules(c, entry, where)
        return rules is not None and decide_rules(rules, variables, context).included

    return check


def pipeline_name(root: Map) -> tuple[str, Loc] | None:
    """``pipeline.name`` and where it is, if it is a string (no other checks)."""
    section = root.get("pipeline")
    entry = section.value.get("name") if section and isinstance(section.value, Map) else None
    if entry and isinstance(entry.value, Scalar) and isinstance(entry.value.value, str):
        return entry.value.value, entry.value.loc
    return None
