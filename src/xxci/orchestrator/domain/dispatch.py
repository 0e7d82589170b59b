"""Matching queued jobs to workers with free capacity. Pure.

``match`` hands out jobs oldest first (by the global ``seq`` of their ``JobQueued``),
each to a worker that carries every one of the job's tags and has a free slot. Among
those, the worker with the most free slots wins (spreading load), ties going to the
smallest worker id, so the answer is deterministic. A job no worker can take is passed
over without blocking the jobs behind it; it waits for the next round. So is a job of
a ``resource_group`` that a running job holds, or that an older job takes this round:
at most one job of a group runs at a time, across all runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Assignment", "QueuedJob", "WorkerSlot", "match", "required_labels", "resource_key"]


@dataclass(frozen=True)
class QueuedJob:
    """A job waiting for a worker. ``order`` is the seq of its ``JobQueued``."""

    run_id: str
    job: str
    tags: frozenset[str] = frozenset()
    order: int = 0
    resource: str = ""
    """Its resource group (:func:`resource_key`), "" for none."""


@dataclass(frozen=True)
class WorkerSlot:
    """A connected worker: how many more attempts it can take, and its labels."""

    worker_id: str
    free: int
    labels: frozenset[str] = frozenset()


class Assignment(NamedTuple):
    run_id: str
    job: str
    worker_id: str


def match(
    queued: Iterable[QueuedJob],
    workers: Iterable[WorkerSlot],
    busy: Iterable[str] = (),
) -> list[Assignment]:
    """Assign as many queued jobs as the workers' free capacity allows; ``busy`` holds
    the resource groups a running job holds."""
    slots = list(workers)
    free = {w.worker_id: w.free for w in slots if w.free > 0}
    labels = {w.worker_id: w.labels for w in slots}
    held = set(busy)
    assigned: list[Assignment] = []
    for item in sorted(queued, key=lambda q: (q.order, q.run_id, q.job)):
        if item.resource and item.resource in held:
            continue
        able = [w for w, n in free.items() if n > 0 and item.tags <= labels[w]]
        if not able:
            continue
        chosen = min(able, key=lambda w: (-free[w], w))
        free[chosen] -= 1
        if item.resource:
            held.add(item.resource)
        assigned.append(Assignment(item.run_id, item.job, chosen))
    return assigned


def resource_key(repo: str, group: str) -> str:
    """A resource group as the dispatcher knows it: GitLab's are per project."""
    return f"{repo}\0{group}" if group else ""


def required_labels(tags: Iterable[str], local: bool) -> frozenset[str]:
    """The labels a worker must carry to take a job with ``tags``: all of them, except
    in a local run, whose one in-process worker takes every job (runner tags of a
    ``.gitlab-ci.yml`` name machines a local run does not have)."""
    return frozenset() if local else frozenset(tags)
