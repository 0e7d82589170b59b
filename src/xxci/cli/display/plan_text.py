"""The plan of ``xxci dry-run`` as text: stages, waves, jobs, and the jobs left out."""

from __future__ import annotations

from xxci.cli.options import plural
from xxci.common.spec import Job, Plan, format_duration
from xxci.common.spec.model import When

__all__ = ["render_text"]


def render_text(the_plan: Plan) -> str:
    """The plan as indented text: stage, wave, job, then the job's settings."""
    lines = [
        f"pipeline '{the_plan.pipeline}' ({the_plan.source_file}):"
        f" {plural(len(the_plan.stages), 'stage')}, {plural(the_plan.job_count, 'job')}"
    ]
    if the_plan.not_run:
        lines.append(f"no run would be made: {the_plan.not_run}")
    for number, stage in enumerate(the_plan.stages, start=1):
        lines.append(f"stage {number}/{len(the_plan.stages)}: {stage.name}")
        for wave_number, wave in enumerate(stage.waves, start=1):
            together = " (in parallel)" if len(wave) > 1 else ""
            lines.append(f"  wave {wave_number}{together}")
            for job in wave:
                lines.extend(_job_lines(job))
    if the_plan.excluded:
        lines.append(f"not in this run ({plural(len(the_plan.excluded), 'job')}):")
        for left_out in the_plan.excluded:
            lines.append(f"  job {left_out.name} (stage {left_out.stage}): {left_out.reason}")
    return "\n".join(lines) + "\n"


def _when(job: Job) -> str | None:
    if job.when is When.ON_SUCCESS:
        return None
    if job.when is When.MANUAL:
        blocking = "blocks what follows until played" if job.blocks_when_manual else "optional"
        return f"manual ({blocking}: xxci play RUN '{job.name}')"
    if job.when is When.DELAYED:
        return f"delayed (starts {format_duration(job.start_in_seconds)} after it could)"
    return job.when.value


def _job_lines(job: Job) -> list[str]:
    details = [("image", job.image or "(the worker's default image)")]
    details.append(("timeout", format_duration(job.timeout_seconds)))
    if (when := _when(job)) is not None:
        details.append(("when", when))
    if job.dag and not job.needs:
        details.append(("needs", "[] (starts at once, whatever the stage)"))
    elif job.needs:
        across = " (starts when they are done, whatever the stage)" if job.dag else ""
        details.append(("needs", ", ".join(job.needs) + across))
    if job.dependencies is not None and tuple(job.dependencies) != tuple(job.needs):
        details.append(("artifacts of", ", ".join(job.dependencies) or "no job"))
    if job.node_total:
        details.append(("parallel", f"{job.node_index}/{job.node_total} of {job.origin}"))
    if job.allow_failure.allowed:
        codes = ", ".join(str(code) for code in job.allow_failure.exit_codes)
        details.append(("allow failure", f"exit codes {codes}" if codes else "yes"))
    if job.retry:
        on = f" (on {', '.join(job.retry_on)})" if job.retry_on else ""
        details.append(("retry", f"{job.retry}{on}"))
    if job.tags:
        details.append(("tags", ", ".join(job.tags)))
    if job.variables:
        details.append(("variables", " ".join(f"{k}={v}" for k, v in job.variables.items())))
    if job.artifacts:
        details.extend(_artifact_details(job))
    details.extend(_extra_details(job))
    lines = [f"    job {job.name}"]
    lines += [f"      {key + ':':<14} {value}" for key, value in details]
    for title, commands in (
        ("before_script", job.before_script),
        ("script", job.script),
        ("after_script", job.after_script),
    ):
        if not commands:
            continue
        lines.append(f"      {title}:")
        for command in commands:
            first, *rest = command.rstrip("\n").split("\n")
            lines.append(f"        $ {first}")
            lines += [f"          {line}" for line in rest]
    return lines


def _artifact_details(job: Job) -> list[tuple[str, str]]:
    artifacts = job.artifacts
    assert artifacts is not None
    kept = list(artifacts.paths) + (["(untracked files)"] if artifacts.untracked else [])
    details = [("artifacts", f"{', '.join(kept) or '(reports only)'} ({artifacts.when.value})")]
    if artifacts.exclude:
        details.append(("  exclude", ", ".join(artifacts.exclude)))
    if artifacts.reports:
        details.append(
            ("  reports", ", ".join(f"{k}: {' '.join(v)}" for k, v in artifacts.reports.items()))
        )
    if artifacts.expire_in:
        details.append(("  expire_in", artifacts.expire_in))
    return details


def _environment(job: Job) -> str:
    if not job.environment:
        return ""
    url = f" at {job.environment_url}" if job.environment_url else ""
    return f"{job.environment}{url} ({job.environment_action or 'start'}, {job.environment_tier})"


def _extra_details(job: Job) -> list[tuple[str, str]]:
    details = []
    for service in job.services:
        details.append(("service", f"{service.name} as {', '.join(service.aliases)}"))
    for cache in job.caches:
        key = f"files {', '.join(cache.key_files)}" if cache.key_files else cache.key
        details.append(("cache", f"{', '.join(cache.paths)} (key {key}, {cache.policy.value})"))
    for key, value in (
        ("coverage", job.coverage),
        ("resource group", job.resource_group),
        ("environment", _environment(job)),
        ("release", job.release),
    ):
        if value:
            details.append((key, value))
    if job.interruptible:
        details.append(("interruptible", "yes"))
    return details
