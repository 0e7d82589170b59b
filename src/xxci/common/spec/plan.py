"""The execution plan of a pipeline: stages in order, each as waves of jobs.

A wave holds jobs that can run in parallel: every job's ``needs`` within its stage are
in earlier waves (needs on earlier stages are met by the stage order). This is pure;
``xxci dry-run`` prints it and a scheduler may use it.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from typing import Any

from xxci.common.spec.model import ExcludedJob, Job, Pipeline


@dataclass(frozen=True)
class StagePlan:
    name: str
    waves: tuple[tuple[Job, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "waves": [[job.to_dict() for job in wave] for wave in self.waves],
        }


@dataclass(frozen=True)
class Plan:
    pipeline: str
    source_file: str
    stages: tuple[StagePlan, ...]
    excluded: tuple[ExcludedJob, ...] = ()
    """Jobs of the file that are not in this run, with the reason."""
    not_run: str = ""
    """Why there would be no run at all ("" when there would be one)."""

    @property
    def job_count(self) -> int:
        return sum(len(wave) for stage in self.stages for wave in stage.waves)

    @property
    def widest_wave(self) -> int:
        """The most jobs that can run at the same time (stages run one after another)."""
        return max((len(wave) for stage in self.stages for wave in stage.waves), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "source_file": self.source_file,
            "stages": [stage.to_dict() for stage in self.stages],
            "excluded": [job.to_dict() for job in self.excluded],
            "not_run": self.not_run,
        }


def plan(pipeline: Pipeline) -> Plan:
    """The waves of each stage, jobs in file order within a wave.

    Expects a validated pipeline; raises ``ValueError`` if ``needs`` form a cycle.
    """
    return Plan(
        pipeline=pipeline.name,
        source_file=pipeline.source_file,
        stages=tuple(
            StagePlan(stage, waves(pipeline.jobs_in_stage(stage))) for stage in pipeline.stages
        ),
        excluded=pipeline.excluded,
        not_run=pipeline.not_run,
    )


def waves(jobs: tuple[Job, ...]) -> tuple[tuple[Job, ...], ...]:
    """Group the jobs of one stage into waves by their needs among themselves."""
    by_name = {job.name: job for job in jobs}
    order = {job.name: index for index, job in enumerate(jobs)}
    sorter = graphlib.TopologicalSorter(
        {job.name: [need for need in job.needs if need in by_name] for job in jobs}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise ValueError(f"needs form a cycle: {error.args[1]}") from error
    result = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=order.__getitem__)
        result.append(tuple(by_name[name] for name in ready))
        sorter.done(*ready)
    return tuple(result)
