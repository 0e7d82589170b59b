"""Rules over the jobs as a whole: names, stages, ``needs`` and cycles.

These run after each job has been read on its own, on :class:`GraphJob` summaries, so a
job with some other error still takes part (its needs and stage are still checked).
"""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from dataclasses import dataclass

from xxci.common.spec import messages
from xxci.common.spec.fields import Collector
from xxci.common.spec.tree import Loc

MAX_CYCLES_REPORTED = 10
"""Cycles reported at most, in the order the jobs are defined."""


@dataclass(frozen=True)
class GraphJob:
    """What the graph rules need to know of one job."""

    name: str
    name_loc: Loc
    stage: str | None
    """None when the job's stage could not be read (already reported)."""
    stage_loc: Loc
    needs: tuple[tuple[str, Loc], ...] = ()


@dataclass(frozen=True)
class StageList:
    """The stages in run order; ``explicit`` when the file lists them itself."""

    names: tuple[tuple[str, Loc], ...]
    explicit: bool


def check_graph(
    c: Collector, stages: StageList | None, jobs: Sequence[GraphJob], *, all_jobs_read: bool
) -> None:
    """Report duplicate jobs, undefined and empty stages, bad needs and cycles.

    ``stages`` is None when the stage list itself was invalid; ``all_jobs_read`` is
    False when some job could not be read at all (then, as when a job is in an undefined
    stage, no stage is called empty: the other error explains it).
    """
    first: dict[str, GraphJob] = {}
    for job in jobs:
        if job.name in first:
            c.error(job.name_loc, messages.duplicate_job(job.name, first[job.name].name_loc.line))
        else:
            first[job.name] = job
    order = {name: index for index, (name, _) in enumerate(stages.names)} if stages else None
    if order is not None:
        for job in jobs:
            if job.stage is not None and job.stage not in order:
                c.error(job.stage_loc, messages.undefined_stage(job.name, job.stage, order))
    used = {job.stage for job in jobs}
    # A job whose stage is unreadable or undefined may belong to an "empty" stage
    # (a typo): the stage error says it all, so no stage is called empty then.
    if order is not None and stages and stages.explicit and all_jobs_read and used <= set(order):
        for name, loc in stages.names:
            if name not in used:
                c.error(loc, messages.empty_stage(name))
    edges = _check_needs(c, first, order)
    _report_cycles(c, first, edges)


def _check_needs(
    c: Collector, first: dict[str, GraphJob], order: dict[str, int] | None
) -> dict[str, dict[str, Loc]]:
    """Report unknown, later-stage and repeated needs; return the valid edges."""
    edges: dict[str, dict[str, Loc]] = {}
    for job in first.values():
        valid: dict[str, Loc] = {}
        seen: set[str] = set()
        for need, loc in job.needs:
            if need in seen:
                c.error(loc, messages.duplicate_need(job.name, need))
                continue
            seen.add(need)
            target = first.get(need)
            if target is None:
                c.error(loc, messages.unknown_need(job.name, need, first))
            elif order is not None and _later(order, target.stage, job.stage):
                c.error(loc, messages.later_need(job.name, need, str(target.stage)))
            else:
                valid[need] = loc
        edges[job.name] = valid
    return edges


def _later(order: dict[str, int], stage: str | None, than: str | None) -> bool:
    if stage is None or than is None or stage not in order or than not in order:
        return False
    return order[stage] > order[than]


def _report_cycles(
    c: Collector, jobs: dict[str, GraphJob], edges: dict[str, dict[str, Loc]]
) -> None:
    """Report each cycle once, from the job defined first, at its ``needs`` entry.

    graphlib finds one cycle at a time; breaking it at the reported edge and asking
    again finds the next, so independent cycles are each reported, up to
    :data:`MAX_CYCLES_REPORTED` (each costs a pass over the whole graph).
    """
    position = {name: index for index, name in enumerate(jobs)}
    graph = {name: set(needs) for name, needs in edges.items()}
    for _ in range(MAX_CYCLES_REPORTED):
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return
        except graphlib.CycleError as error:
            found: list[str] = list(reversed(error.args[1]))[:-1]
        start = min(range(len(found)), key=lambda i: position[found[i]])
        ring = found[start:] + found[:start]
        head, after = ring[0], ring[1 % len(ring)]
        c.error(edges[head][after], messages.cycle([*ring, head]))
        graph[head].discard(after)
