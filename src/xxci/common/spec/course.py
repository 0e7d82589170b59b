"""The ``.pipelines/*.yml`` layout: ``pipeline: {name}``, ``stages``, ``default``,
``variables``, ``workflow``, ``include`` and ``jobs`` (a list of named jobs, or a
mapping of them). Hidden top-level keys (``.name``) hold templates and anchors.
"""

from __future__ import annotations

import re

from xxci.common.spec import fields, messages
from xxci.common.spec.assemble import Globals
from xxci.common.spec.context import RunContext
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import StageList
from xxci.common.spec.jobs import DEFAULT_KEYS, JOB_KEYS, read_settings
from xxci.common.spec.layout import Header, JobSource, Layout
from xxci.common.spec.model import DEFAULT_STAGES
from xxci.common.spec.rules import decide_rules, read_rules
from xxci.common.spec.templates import merge
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe, shorten

__all__ = ["LAYOUT", "PIPELINE_NAME", "read_stages"]

TOP_LEVEL_KEYS = ("pipeline", "stages", "default", "jobs", "variables", "workflow", "include")
PIPELINE_KEYS = ("name",)
WORKFLOW_KEYS = ("rules", "auto_cancel")
PIPELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _hidden(key: object) -> bool:
    return isinstance(key, str) and key.startswith(".")


def _jobs(c: Collector, root: Map) -> tuple[list[JobSource], dict[str, Entry], bool]:
    fields.check_keys(c, root, "", TOP_LEVEL_KEYS, hidden_ok=True)
    templates = {str(e.key): e for e in root if _hidden(e.key)}
    entry = root.get("jobs")
    if entry is None:
        c.error(root.loc, messages.missing_key("jobs", ""))
        return [], templates, False
    node = entry.value
    visible = (
        node.items
        if isinstance(node, Seq)
        else [e for e in node if not _hidden(e.key)]
        if isinstance(node, Map)
        else None
    )
    if visible is not None and not visible:
        c.error(node.loc, messages.EMPTY_JOBS)
        return [], templates, False
    if isinstance(node, Seq):
        return _job_list(c, node, templates)
    if isinstance(node, Map):
        return _job_mapping(c, node, templates)
    fields.wrong_type(c, entry, "", "a list of jobs")
    return [], templates, False


def _job_list(
    c: Collector, node: Seq, templates: dict[str, Entry]
) -> tuple[list[JobSource], dict[str, Entry], bool]:
    sources = []
    for number, item in enumerate(node.items, start=1):
        if not isinstance(item, Map):
            c.error(item.loc, messages.job_not_a_mapping(describe(item)))
            continue
        source = JobSource(where=f"job #{number}", anchor=item.loc, node=item)
        name_entry = item.get("name")
        if name_entry is None:
            c.error(item.loc, messages.missing_key("name", source.where))
        else:
            source.name = fields.string(c, name_entry, source.where)
            source.name_loc = name_entry.value.loc
        if source.name is not None:
            source.where = f"job '{shorten(source.name)}'"
            templates.setdefault(source.name, Entry(source.name, source.name_loc, item))
        sources.append(source)
    return sources, templates, len(sources) == len(node.items)


def _job_mapping(
    c: Collector, node: Map, templates: dict[str, Entry]
) -> tuple[list[JobSource], dict[str, Entry], bool]:
    sources = []
    all_read = True
    for entry in node:
        if _hidden(entry.key):
            templates[str(entry.key)] = entry
            continue
        if not isinstance(entry.key, str) or not entry.key.strip():
            c.error(entry.key_loc, messages.job_key_not_a_string(shorten(entry.name)))
            all_read = False
            continue
        if not isinstance(entry.value, Map):
            fields.wrong_type(c, entry, "'jobs'", "a job (a mapping)")
            all_read = False
            continue
        where = f"job '{shorten(entry.key)}'"
        name_entry = entry.value.get("name")
        if name_entry is not None:
            inner = fields.string(c, name_entry, where)
            if inner is not None and inner != entry.key:
                c.error(name_entry.value.loc, messages.job_name_mismatch(inner, entry.key))
        templates[entry.key] = entry
        sources.append(JobSource(where, entry.key_loc, entry.value, entry.key, entry.key_loc))
    return sources, templates, all_read


def _header(c: Collector, root: Map, context: RunContext, variables: dict[str, str]) -> Header:
    name = _pipeline_name(c, root)
    stages = read_stages(c, root, DEFAULT_STAGES)
    defaults: dict[str, object] = {}
    if (entry := root.get("default")) is not None and (
        section := fields.mapping(c, entry, "")
    ) is not None:
        job_only = [key for key in JOB_KEYS if key not in DEFAULT_KEYS]
        fields.check_keys(c, section, "'default'", DEFAULT_KEYS, job_only=job_only)
        defaults, _ = read_settings(c, section, "'default'", DEFAULT_KEYS)
    global_variables = dict(defaults.pop("variables", None) or {})  # type: ignore[call-overload]
    if (entry := root.get("variables")) is not None:
        global_variables.update(fields.variables(c, entry, "") or {})
    not_run = ""
    if (entry := root.get("workflow")) is not None and (
        section := fields.mapping(c, entry, "")
    ) is not None:
        fields.check_keys(c, section, "'workflow'", WORKFLOW_KEYS)
        if (rules_entry := section.get("rules")) is not None:
            rules = read_rules(c, rules_entry, "'workflow'", workflow=True)
            if rules is not None:
                decision = decide_rules(rules, {**variables, **global_variables}, context)
                not_run = "" if decision.included else f"workflow: {decision.reason}"
                if decision.rule is not None and decision.rule.variables:
                    global_variables.update(decision.rule.variables)
    globals_ = Globals("xxci", defaults, global_variables)
    return Header(name, stages, globals_, not_run)


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


def read_stages(c: Collector, root: Map, default: tuple[str, ...]) -> StageList | None:
    """``stages`` in order (``default`` when absent); None after reporting a problem
    with the list itself."""
    entry = root.get("stages")
    if entry is None:
        return StageList(tuple((stage, Loc()) for stage in default), explicit=False)
    if not isinstance(entry.value, Seq):
        fields.wrong_type(c, entry, "", "a list of stage names")
        return None
    if not entry.value.items:
        c.error(entry.value.loc, messages.EMPTY_STAGES)
        return None
    names: dict[str, Loc] = {}
    ok = True
    for item in fields.flatten(entry.value).items:
        if not (isinstance(item, Scalar) and isinstance(item.value, str)):
            c.error(item.loc, messages.stage_not_a_string(describe(item)))
            ok = False
        elif not item.value.strip():
            c.error(item.loc, messages.EMPTY_STAGE_NAME)
            ok = False
        elif item.value in names:
            c.error(item.loc, messages.duplicate_stage(item.value, names[item.value].line))
        else:
            names[item.value] = item.loc
    # An invalid entry is the one error to report: jobs in the stages it was meant to
    # name are not "in an undefined stage" on top of it.
    return StageList(tuple(names.items()), explicit=True) if ok else None


def _combine(base: Node, over: Node) -> Node:
    """Included files merge as ``extends`` does, except that lists of jobs add up."""
    if isinstance(base, Map) and isinstance(over, Map):
        jobs_base, jobs_over = base.get("jobs"), over.get("jobs")
        if (
            jobs_base
            and jobs_over
            and isinstance(jobs_base.value, Seq)
            and isinstance(jobs_over.value, Seq)
        ):
            joined = Seq(jobs_base.value.items + jobs_over.value.items, jobs_over.value.loc)
            over = Map(
                tuple(
                    Entry(e.key, e.key_loc, joined) if e.key == "jobs" else e for e in over.entries
                ),
                over.loc,
            )
            base = Map(tuple(e for e in base.entries if e.key != "jobs"), base.loc)
    return merge(base, over)


LAYOUT = Layout(kind="xxci", jobs=_jobs, header=_header, combine=_combine, extra_job_keys=("name",))
