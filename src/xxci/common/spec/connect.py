"""A job's ``needs`` and ``dependencies`` resolved to the jobs actually in the run.

Written names become instance names (``needs: [build]`` of a ``parallel`` job needs
each of its instances, ``needs: parallel: matrix`` some of them). In a
``.gitlab-ci.yml`` a job that declares ``needs`` is scheduled as GitLab's DAG, and its
``dependencies`` can only narrow the artifacts its needs pass on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from xxci.common.spec import keyword_messages as km
from xxci.common.spec import messages
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import StageList
from xxci.common.spec.jobs import JobDraft
from xxci.common.spec.model import Job
from xxci.common.spec.needs import NeedSpec
from xxci.common.spec.tree import Loc

__all__ = ["Candidate", "connect"]


@dataclass
class Candidate:
    """One instance in the run, before its needs are resolved."""

    draft: JobDraft
    job: Job
    needs: tuple[NeedSpec, ...] | None
    values: tuple[tuple[str, str], ...]


def connect(
    c: Collector,
    candidate: Candidate,
    instances_of: Mapping[str, list[Candidate]],
    written: set[str],
    broken: set[str],
    kind: str,
    stages: StageList | None,
) -> tuple[Job, tuple[tuple[str, Loc], ...]]:
    """The job with its needs and dependencies resolved to the run's jobs, and its
    needs where they are written (for the graph checks)."""
    job, draft = candidate.job, candidate.draft
    needs: list[str] = []
    located: list[tuple[str, Loc]] = []
    from_needs: list[str] = []
    seen: set[str] = set()
    limit = c.limits.max_needs
    for need in candidate.needs or ():
        if len(seen) > limit:
            break
        for target in _targets(c, job.name, need, instances_of, written, broken):
            located.append((target, need.loc))
            if target in seen:
                continue
            seen.add(target)
            if len(seen) > limit:
                c.error(need.loc, messages.too_many_needs(job.name, limit))
                break
            needs.append(target)
            if need.artifacts:
                from_needs.append(target)
    dependencies: tuple[str, ...] | None = None
    dag = kind == "gitlab" and candidate.needs is not None
    listed = draft.values.get("dependencies")
    if listed is not None and dag:
        dependencies = tuple(
            _dag_dependencies(c, job, listed, instances_of, written, needs, from_needs)
        )
    elif listed is not None:
        dependencies = tuple(_dependencies(c, job, listed, instances_of, written, needs, stages))
    elif candidate.needs is not None and (kind == "gitlab" or candidate.needs):
        dependencies = tuple(from_needs)
    connected = dataclasses.replace(job, needs=tuple(needs), dependencies=dependencies, dag=dag)
    return connected, tuple(located)


def _targets(
    c: Collector,
    job: str,
    need: NeedSpec,
    instances_of: Mapping[str, list[Candidate]],
    written: set[str],
    broken: set[str],
) -> list[str]:
    if need.job not in written:
        c.error(need.loc, messages.unknown_need(job, need.job, sorted(written)))
        return []
    if need.job in broken:
        return [need.job]  # invalid itself, already reported
    found = instances_of.get(need.job, [])
    if need.matrix is not None:
        wanted = [set(combo) for combo in need.matrix]
        found = [f for f in found if any(w <= set(f.values) for w in wanted)]
        if not found and not need.optional:
            c.error(need.loc, km.needs_matrix_none(job, need.job))
    elif not found and not need.optional:
        c.error(need.loc, km.needs_excluded(job, need.job))
    return [f.job.name for f in found]


def _dependencies(
    c: Collector,
    job: Job,
    listed: tuple[tuple[str, Loc], ...],
    instances_of: Mapping[str, list[Candidate]],
    written: set[str],
    needs: list[str],
    stages: StageList | None,
) -> list[str]:
    order = {name: i for i, (name, _) in enumerate(stages.names)} if stages else {}
    result: list[str] = []
    for name, loc in listed:
        if name not in written:
            c.error(loc, km.dependency_unknown(job.name, name, sorted(written - {job.name})))
            continue
        found = instances_of.get(name, [])
        if not found:
            c.error(loc, km.needs_excluded(job.name, name))
        for target in found:
            earlier = order.get(target.job.stage, -1) < order.get(job.stage, -1)
            if not earlier and target.job.name not in needs:
                c.error(loc, km.dependency_not_earlier(job.name, name))
                break
            result.append(target.job.name)
    return result


def _dag_dependencies(
    c: Collector,
    job: Job,
    listed: tuple[tuple[str, Loc], ...],
    instances_of: Mapping[str, list[Candidate]],
    written: set[str],
    needs: list[str],
    from_needs: list[str],
) -> list[str]:
    """``dependencies`` of a job that declares ``needs`` (GitLab's DAG): each must be one
    of its needs (``needs: []`` takes none), and only needs that pass artifacts count,
    as GitLab filters the artifacts of the needs by ``dependencies``."""
    result: list[str] = []
    for name, loc in listed:
        if name not in written:
            c.error(loc, km.dependency_unknown(job.name, name, sorted(written - {job.name})))
            continue
        targets = [f.job.name for f in instances_of.get(name, [])] or [name]
        if needs and not any(t in needs for t in targets):
            c.error(loc, km.dependency_not_needed(job.name, name))
            continue
        result.extend(t for t in targets if t in from_needs and t not in result)
    return result
