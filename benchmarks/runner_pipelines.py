"""The pipelines ``compare_runners.py`` runs, written for each contender.

One :class:`Pipeline` is rendered three ways: an xxci pipeline file, a GitLab CI file
(for gitlab-ci-local) and the plan the bare Docker script follows (the jobs in waves:
stage by stage, and within a stage in the order ``needs`` imposes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

IMAGE = "xxci-test/busybox:latest"


def contender_env(**extra: str) -> dict[str, str]:
    """The environment every contender runs in: this one, but with Python's bytecode
    cache on (an installed program has its modules compiled; some sandboxes set
    PYTHONDONTWRITEBYTECODE, which makes every start compile them again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


SCRIPT = ("echo hello", "true")


@dataclass(frozen=True)
class Job:
    name: str
    stage: str
    script: tuple[str, ...] = SCRIPT
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipeline:
    name: str
    title: str
    stages: tuple[str, ...]
    jobs: tuple[Job, ...] = field(default=())

    def waves(self) -> list[list[Job]]:
        """The jobs as groups that may run at once, in the order they must run."""
        waves: list[list[Job]] = []
        done: set[str] = set()
        for stage in self.stages:
            pending = [j for j in self.jobs if j.stage == stage]
            while pending:
                ready = [j for j in pending if all(n in done for n in j.needs)]
                if not ready:
                    raise ValueError(f"needs cycle in {self.name}")
                waves.append(ready)
                done.update(j.name for j in ready)
                pending = [j for j in pending if j not in ready]
        return waves

    @property
    def width(self) -> int:
        """The widest wave: how many jobs may run at once."""
        return max(len(w) for w in self.waves())

    def xxci_yaml(self) -> str:
        lines = [f"pipeline: {{name: {self.name}}}", f"stages: [{', '.join(self.stages)}]"]
        lines += [f"default: {{image: {json.dumps(IMAGE)}}}", "jobs:"]
        for job in self.jobs:
            lines.append(f"  - name: {job.name}")
            lines.append(f"    stage: {job.stage}")
            if job.needs:
                lines.append(f"    needs: [{', '.join(job.needs)}]")
            lines.append(f"    script: {json.dumps(list(job.script))}")
        return "\n".join(lines) + "\n"

    def gitlab_yaml(self) -> str:
        lines = [f"stages: [{', '.join(self.stages)}]", f"image: {json.dumps(IMAGE)}"]
        for job in self.jobs:
            lines.append(f"{job.name}:")
            lines.append(f"  stage: {job.stage}")
            if job.needs:
                lines.append(f"  needs: [{', '.join(job.needs)}]")
            lines.append(f"  script: {json.dumps(list(job.script))}")
        return "\n".join(lines) + "\n"

    def bare_plan(self) -> str:
        """JSON: ``{"image": ..., "waves": [[shell command, ...], ...]}``."""
        waves = [["; ".join(job.script) for job in wave] for wave in self.waves()]
        return json.dumps({"image": IMAGE, "waves": waves})


def stages_by_jobs(name: str, title: str, stages: int, jobs: int) -> Pipeline:
    names = tuple(f"s{i}" for i in range(stages))
    return Pipeline(
        name,
        title,
        names,
        tuple(Job(f"{stage}-j{j}", stage) for stage in names for j in range(jobs)),
    )


def chain(name: str, title: str, length: int) -> Pipeline:
    jobs = [Job("c0", "build")]
    jobs += [Job(f"c{i}", "build", needs=(f"c{i - 1}",)) for i in range(1, length)]
    return Pipeline(name, title, ("build",), tuple(jobs))


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        stages_by_jobs("stages4x5", "4 stages x 5 jobs", 4, 5),
        stages_by_jobs("stage1x20", "1 stage x 20 jobs", 1, 20),
        chain("chain10", "10-job needs chain", 10),
        Pipeline(
            "one3",
            "1 job, 3 commands",
            ("build",),
            (Job("only", "build", ("echo hello", "true", "echo bye")),),
        ),
    )
}
