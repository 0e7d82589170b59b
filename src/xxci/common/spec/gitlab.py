"""The ``.gitlab-ci.yml`` layout, as GitLab reads it.

Every top-level key that is not a keyword is a job; one starting with ``.`` is hidden
(a template). The keywords are ``stages``, ``variables``, ``default``, ``workflow``,
``include`` and the old globals ``image``, ``services``, ``cache``,
``before_script`` and ``after_script`` (which ``default`` overrides). Stages default
to ``.pre``, ``build``, ``test``, ``deploy``, ``.post``; ``.pre`` and ``.post`` are
always first and last. The pipeline is named by ``workflow: name`` (its variables
expanded, then made a valid pipeline name), else ``gitlab-ci``.
"""

from __future__ import annotations

import re
from typing import Any

from xxci.common.spec import fields
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.assemble import Globals
from xxci.common.spec.context import RunContext
from xxci.common.spec.course import read_stages
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import StageList
from xxci.common.spec.jobs import GITLAB_DEFAULT_KEYS, JOB_KEYS, read_settings
from xxci.common.spec.layout import Header, JobSource, Layout
from xxci.common.spec.model import GITLAB_STAGES
from xxci.common.spec.parser import Document, gitlab_shaped
from xxci.common.spec.rules import decide_rules, read_rules
from xxci.common.spec.tree import Entry, Map, Scalar, describe, shorten
from xxci.common.spec.variables import expand

__all__ = ["DEFAULT_NAME", "FILE_NAME", "LAYOUT", "is_gitlab", "pipeline_name"]

FILE_NAME = ".gitlab-ci.yml"
DEFAULT_NAME = "gitlab-ci"
GLOBAL_KEYS = ("image", "services", "cache", "before_script", "after_script")
KEYWORDS = ("stages", "variables", "default", "workflow", "include", "spec", *GLOBAL_KEYS)
WORKFLOW_KEYS = ("name", "rules", "auto_cancel")


def is_gitlab(document: Document) -> bool:
    """A ``.gitlab-ci.yml`` (or ``*.gitlab-ci.yml``): by its name, or, for any other
    name, by its shape (no ``pipeline:`` section and no ``jobs:``)."""
    root = document.root
    keys = {entry.key for entry in root}
    return gitlab_shaped(document.file, dict.fromkeys(keys))


def _is_job_key(key: object) -> bool:
    return isinstance(key, str) and key not in KEYWORDS


def _jobs(c: Collector, root: Map) -> tuple[list[JobSource], dict[str, Entry], bool]:
    templates: dict[str, Entry] = {}
    sources: list[JobSource] = []
    all_read = True
    if (spec := root.get("spec")) is not None:
        c.error(spec.key_loc, km.not_runnable("spec", "the file", km.NOT_RUNNABLE["inputs"]))
    for entry in root:
        if not _is_job_key(entry.key):
            if not isinstance(entry.key, str):
                c.error(entry.key_loc, km.top_level_not_job(entry.name, "a non-string key"))
            continue
        name = str(entry.key)
        templates[name] = entry
        if name.startswith("."):
            continue
        if not isinstance(entry.value, Map):
            c.error(entry.value.loc, km.top_level_not_job(name, describe(entry.value)))
            all_read = False
            continue
        sources.append(
            JobSource(f"job '{shorten(name)}'", entry.key_loc, entry.value, name, entry.key_loc)
        )
    if not sources and all_read and not c.diagnostics:  # else an include explains it
        c.error(root.loc, "the file has no jobs; a job is a top-level key with a 'script'")
    return sources, templates, all_read


def _header(c: Collector, root: Map, context: RunContext, variables: dict[str, str]) -> Header:
    stages = _stages(c, root)
    defaults: dict[str, Any] = {}
    globals_, _ = read_settings(c, root, "the top level", GLOBAL_KEYS)
    defaults.update(globals_)
    if (entry := root.get("default")) is not None and (
        section := fields.mapping(c, entry, "")
    ) is not None:
        job_only = [
            key for key in JOB_KEYS if key not in GITLAB_DEFAULT_KEYS and key != "variables"
        ]
        for item in section:
            if item.key == "variables":
                c.error(item.key_loc, km.variable_in_default())
        known = [k for k in section if k.key != "variables"]
        fields.check_keys(
            c,
            Map(tuple(known), section.loc),
            "'default'",
            (*GITLAB_DEFAULT_KEYS, "hooks", "id_tokens"),
            job_only=job_only,
        )
        for item in section:
            if isinstance(item.key, str) and item.key in km.NOT_RUNNABLE:
                c.error(
                    item.key_loc, km.not_runnable(item.key, "'default'", km.NOT_RUNNABLE[item.key])
                )
        values, _ = read_settings(c, section, "'default'", GITLAB_DEFAULT_KEYS)
        defaults.update(values)
    global_variables: dict[str, str] = {}
    if (entry := root.get("variables")) is not None:
        global_variables = fields.variables(c, entry, "") or {}
    name, not_run = DEFAULT_NAME, ""
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
        if (name_entry := section.get("name")) is not None:
            written = fields.string(c, name_entry, "'workflow'")
            if written is not None:
                name = pipeline_name(expand(written, {**variables, **global_variables}))
    return Header(name, stages, Globals("gitlab", defaults, global_variables), not_run)


def pipeline_name(written: str) -> str:
    """A ``workflow: name`` as a pipeline name: runs of characters a name cannot hold
    become ``-`` (``Build main!`` -> ``Build-main``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", written).strip("-._")
    return name or DEFAULT_NAME


def _stages(c: Collector, root: Map) -> StageList | None:
    stages = read_stages(c, root, GITLAB_STAGES[1:-1])
    if stages is None:
        return None
    names = list(stages.names)
    for edge, position in ((".pre", 0), (".post", len(names) - 1)):
        found = [i for i, (n, _) in enumerate(names) if n == edge]
        if found and found[0] != position:
            c.error(names[found[0]][1], km.stage_misplaced(edge))
    if not any(n == ".pre" for n, _ in names):
        names.insert(0, (".pre", root.loc))
    if not any(n == ".post" for n, _ in names):
        names.append((".post", root.loc))
    return StageList(tuple(names), explicit=False)  # GitLab allows stages without jobs


def workflow_name(root: Map) -> str | None:
    """``workflow: name`` as written, if it is a string (no other checks)."""
    section = root.get("workflow")
    entry = section.value.get("name") if section and isinstance(section.value, Map) else None
    if entry and isinstance(entry.value, Scalar) and isinstance(entry.value.value, str):
        return entry.value.value
    return None


LAYOUT = Layout(kind="gitlab", jobs=_jobs, header=_header)
