"""From the jobs as written to the jobs of one run: inherit, expand, decide, connect.

For each job: ``default`` (and the top-level ``variables``) fill what it does not set,
as its ``inherit`` allows; ``parallel`` makes its instances; ``rules`` or
``only``/``except`` decide each instance for the run's context (a job left out is
kept in :attr:`Pipeline.excluded` with the reason); ``$VAR`` in images is expanded
and the reference checked; ``needs`` and ``dependencies`` are resolved to the jobs
actually in the run. Both formats end here, so both mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xxci.common.spec import keyword_messages as km
from xxci.common.spec import messages
from xxci.common.spec.connect import Candidate, connect
from xxci.common.spec.context import RunContext, predefined_variables, slug
from xxci.common.spec.environments import EnvironmentSpec, environment_tier
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import GraphJob, StageList, check_graph
from xxci.common.spec.jobs import JobDraft
from xxci.common.spec.keywords import ImageSpec, Inherit, RetrySpec, valid_image_reference
from xxci.common.spec.matrix import Instance, ParallelSpec, instances
from xxci.common.spec.model import (
    DEFAULT_TIMEOUT_SECONDS,
    AllowFailure,
    Artifacts,
    ExcludedJob,
    Job,
    When,
)
from xxci.common.spec.needs import NEVER
from xxci.common.spec.rules import Decision, decide_only_except, decide_rules
from xxci.common.spec.services_cache import Service
from xxci.common.spec.variables import expand, expand_all

__all__ = ["Globals", "Planned", "assemble_jobs"]


@dataclass(frozen=True)
class Globals:
    """What every job may inherit: ``default`` and the file's variables."""

    kind: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Planned:
    """The outcome: the run's jobs in file order and the ones left out."""

    jobs: list[Job] = field(default_factory=list)
    excluded: list[ExcludedJob] = field(default_factory=list)


def assemble_jobs(
    c: Collector,
    drafts: Sequence[JobDraft],
    stages: StageList | None,
    globals_: Globals,
    context: RunContext,
    *,
    all_read: bool,
) -> Planned:
    """The run's jobs; every problem is recorded in ``c``."""
    predefined = predefined_variables(context)
    candidates: list[Candidate] = []
    broken: set[str] = set()
    planned = Planned()
    instances_of: dict[str, list[Candidate]] = {}
    for draft in drafts:
        if draft.name is None or draft.stage is None:
            values, _ = _inherited(draft, globals_)
            if globals_.kind == "xxci" and "image" not in values:
                c.error(draft.anchor, messages.missing_image(draft.where))
            continue
        made = _instances(c, draft, globals_, context, predefined)
        instances_of.setdefault(draft.name, [])
        if made is None:
            broken.add(draft.name)
            continue
        if len(candidates) + len(planned.excluded) + len(made) > c.limits.max_jobs:
            c.error(draft.anchor, messages.too_many_jobs(c.limits.max_jobs))
            break
        for candidate_or_excluded in made:
            if isinstance(candidate_or_excluded, ExcludedJob):
                planned.excluded.append(candidate_or_excluded)
            else:
                candidates.append(candidate_or_excluded)
                instances_of[draft.name].append(candidate_or_excluded)
    written = set(dict.fromkeys(d.name for d in drafts if d.name is not None))
    graph_jobs: list[GraphJob] = []
    for candidate in candidates:
        job, needs = connect(c, candidate, instances_of, written, broken, globals_.kind, stages)
        planned.jobs.append(job)
        draft = candidate.draft
        graph_jobs.append(
            GraphJob(job.name, draft.name_loc, job.stage, draft.stage_loc or draft.anchor, needs)
        )
    for excluded, draft in _excluded_drafts(planned, drafts):
        graph_jobs.append(
            GraphJob(excluded.name, draft.name_loc, excluded.stage, draft.stage_loc or draft.anchor)
        )
    for draft in drafts:
        if draft.name is not None and (draft.stage is None or draft.name in broken):
            # An invalid job still takes part in the graph as written, so that its
            # needs and the needs on it are checked too.
            written_needs = tuple((n.job, n.loc) for n in draft.values.get("needs") or ())
            loc = draft.stage_loc or draft.anchor
            graph_jobs.append(GraphJob(draft.name, draft.name_loc, draft.stage, loc, written_needs))
    position = {d.name: i for i, d in enumerate(drafts)}
    graph_jobs.sort(key=lambda g: position.get(g.name, position.get(_base(g.name), len(position))))
    check_graph(c, stages, graph_jobs, all_jobs_read=all_read and None not in position)
    return planned


def _base(name: str) -> str:
    """The job as written, of an instance name (``test 1/3``, ``deploy: [a, b]``)."""
    if ": [" in name:
        return name.split(": [", 1)[0]
    head, _, tail = name.rpartition(" ")
    return head if "/" in tail else name


def _excluded_drafts(
    planned: Planned, drafts: Sequence[JobDraft]
) -> list[tuple[ExcludedJob, JobDraft]]:
    by_name = {d.name: d for d in drafts}
    found = []
    for excluded in planned.excluded:
        draft = by_name.get(excluded.name) or by_name.get(_base(excluded.name))
        if draft is not None:
            found.append((excluded, draft))
    return found


def _inherited(draft: JobDraft, globals_: Globals) -> tuple[dict[str, Any], dict[str, str]]:
    inherit: Inherit = draft.get("inherit", Inherit())
    values: dict[str, Any] = {}
    for key, value in globals_.defaults.items():
        if key not in draft.present and _allowed(inherit.default, key):
            values[key] = value
    for key in draft.present:
        values[key] = draft.values.get(key)
    variables = {k: v for k, v in globals_.variables.items() if _allowed(inherit.variables, k)}
    return values, variables


def _allowed(rule: bool | frozenset[str], key: str) -> bool:
    return rule if isinstance(rule, bool) else key in rule


def _instances(
    c: Collector,
    draft: JobDraft,
    globals_: Globals,
    context: RunContext,
    predefined: Mapping[str, str],
) -> list[Candidate | ExcludedJob] | None:
    """The job's instances in the run or left out; None when it is invalid."""
    assert draft.name is not None and draft.stage is not None
    values, global_variables = _inherited(draft, globals_)
    parallel: ParallelSpec | None = values.get("parallel")
    found: list[Candidate | ExcludedJob] = []
    for instance in instances(draft.name, parallel) if parallel else [Instance(draft.name, 0, 0)]:
        own = {**global_variables, **(values.get("variables") or {}), **dict(instance.values)}
        job_level = {**predefined, **_job_variables(instance, draft.stage)}
        seen = {**job_level, **own, **context.variables}
        decision = _decide(values, seen, context)
        if not decision.included:
            found.append(ExcludedJob(instance.name, draft.stage, decision.reason))
            continue
        rule = decision.rule
        rule_variables = dict(rule.variables or {}) if rule else {}
        variables = {**own, **rule_variables, **context.variables}
        job = _job(
            c, draft, instance, values, variables, rule, {**job_level, **variables}, globals_.kind
        )
        if job is None or ("needs" in draft.present and values.get("needs") is None):
            return None  # invalid, already reported: it neither runs nor is left out
        needs = rule.needs if rule and rule.needs is not None else values.get("needs")
        found.append(Candidate(draft, job, needs, instance.values))
    return found


def _job_variables(instance: Instance, stage: str) -> dict[str, str]:
    """The job's own predefined variables that its keywords may use (``environment:
    review/$CI_JOB_STAGE``), as the worker will set them."""
    values = {"CI_JOB_NAME": instance.name, "CI_JOB_NAME_SLUG": slug(instance.name)}
    values["CI_JOB_STAGE"] = stage
    if instance.total:
        values["CI_NODE_INDEX"] = str(instance.index)
        values["CI_NODE_TOTAL"] = str(instance.total)
    return values


def _decide(
    values: Mapping[str, Any], variables: Mapping[str, str], context: RunContext
) -> Decision:
    if values.get("rules") is not None:
        return decide_rules(values["rules"], variables, context)
    if values.get("when") == NEVER:
        return Decision(False, "when: never")
    return decide_only_except(values.get("only"), values.get("except"), variables, context)


def _job(
    c: Collector,
    draft: JobDraft,
    instance: Instance,
    values: Mapping[str, Any],
    variables: dict[str, str],
    rule: Any,
    environment: dict[str, str],
    kind: str,
) -> Job | None:
    assert draft.name is not None and draft.stage is not None
    expanded = expand_all(environment)
    image = _image(c, draft, values.get("image"), "image" in values, expanded, kind)
    script = values.get("script")
    services = _services(c, draft, values.get("services") or (), expanded)
    if image is None or script is None or services is None:
        return None
    when_text = (rule.when if rule and rule.when else None) or values.get("when") or "on_success"
    explicit = values.get("allow_failure")
    allow: AllowFailure = (
        rule.allow_failure
        if rule and rule.allow_failure is not None
        else explicit
        if explicit is not None
        else AllowFailure(values.get("when") == "manual")
    )
    retry: RetrySpec = values.get("retry") or RetrySpec(0)
    start_in = (
        (rule.start_in if rule and rule.start_in is not None else None)
        or values.get("start_in")
        or 0
    )
    env = _environment(values.get("environment"), expanded)
    artifacts: Artifacts | None = values.get("artifacts")
    if artifacts is not None and not (artifacts.paths or artifacts.untracked):
        artifacts = None if not artifacts.reports else artifacts
    return Job(
        name=instance.name,
        stage=draft.stage,
        image=image.name if isinstance(image, ImageSpec) else image,
        script=script,
        allow_failure=allow,
        artifacts=artifacts,
        variables=variables,
        timeout_seconds=values.get("timeout") or DEFAULT_TIMEOUT_SECONDS,
        retry=retry.max,
        tags=values.get("tags") or (),
        before_script=values.get("before_script") or (),
        after_script=values.get("after_script") or (),
        when=When(when_text),
        start_in_seconds=start_in,
        origin=draft.name if instance.total else "",
        node_index=instance.index,
        node_total=instance.total,
        entrypoint=image.entrypoint if isinstance(image, ImageSpec) else None,
        retry_on=retry.on,
        retry_exit_codes=retry.exit_codes,
        coverage=values.get("coverage") or "",
        resource_group=expand(values.get("resource_group") or "", expanded),
        interruptible=bool(values.get("interruptible")),
        environment=env.name,
        environment_url=env.url,
        environment_action=env.action,
        environment_tier=env.tier,
        release=values.get("release") or "",
        services=services,
        caches=values.get("cache") or (),
        secrets=values.get("secrets") or (),
    )


def _environment(spec: EnvironmentSpec | None, variables: Mapping[str, str]) -> EnvironmentSpec:
    """The environment expanded, its tier decided; all "" for a job without one."""
    if spec is None:
        return EnvironmentSpec("", action="")
    name = expand(spec.name, variables)
    return EnvironmentSpec(
        name, expand(spec.url, variables), spec.action, environment_tier(name, spec.tier)
    )


def _image(
    c: Collector,
    draft: JobDraft,
    spec: ImageSpec | None,
    present: bool,
    variables: Mapping[str, str],
    kind: str,
) -> ImageSpec | str | None:
    if spec is None:
        if present:
            return None  # invalid, already reported
        if kind == "xxci":
            c.error(draft.anchor, messages.missing_image(draft.where))
            return None
        return ""  # a .gitlab-ci.yml job without image: the worker's default image
    name = expand(spec.name, variables).strip()
    if not name:
        c.error(spec.loc, km.empty_image(spec.name, draft.where))
        return None
    if not valid_image_reference(name):
        c.error(spec.loc, km.invalid_image(name, draft.where, spec.name))
        return None
    return ImageSpec(name, spec.loc, spec.entrypoint)


def _services(
    c: Collector, draft: JobDraft, services: tuple[Service, ...], variables: Mapping[str, str]
) -> tuple[Service, ...] | None:
    result = []
    for service in services:
        name = expand(service.name, variables).strip()
        if not valid_image_reference(name):
            c.error(
                draft.anchor, km.invalid_image(name, f"a service of {draft.where}", service.name)
            )
            return None
        result.append(
            Service(name, service.aliases, service.entrypoint, service.command, service.variables)
        )
    return tuple(result)
