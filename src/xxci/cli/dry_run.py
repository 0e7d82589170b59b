"""``xxci dry-run``: the execution plan of one pipeline, without running anything."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import asyncclick as click
from ruamel.yaml import YAML

from xxci.cli.options import (
    Selector,
    check_overrides,
    exits_cleanly,
    override_option,
    plural,
    selector_options,
)
from xxci.cli.selection import resolve_repo, selected_files
from xxci.common.errors import SpecError, UsageError
from xxci.common.spec import (
    Job,
    Plan,
    diagnostics_of,
    display_path,
    format_duration,
    load_files,
    messages,
    plan,
)


@click.command("dry-run")
@selector_options
@override_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "yaml", "json"]),
    default="text",
    show_default=True,
    help="How to print the plan.",
)
@exits_cleanly
def dry_run(
    pipeline_file: Path | None,
    pipeline_name: str | None,
    repo: str | None,
    overrides: tuple[str, ...],
    output_format: str,
) -> None:
    """Show what a run would do: stages in order, each as waves of jobs.

    The jobs of a wave can run in parallel; each wave needs only earlier ones. Without
    --file or --pipeline, .pipelines/ must hold exactly one file. Validation errors are
    reported as by `xxci check`.

    Exit status: 0 plan shown, 1 invalid pipeline, 2 bad command line.
    """
    check_overrides(overrides)
    paths = selected_files(Selector(pipeline_file, pipeline_name, resolve_repo(repo)))
    if len(paths) > 1 and pipeline_name is None:
        raise UsageError(messages.several_pipelines([display_path(path) for path in paths]))
    files = load_files(paths, overrides)
    diagnostics = diagnostics_of(files)
    if diagnostics or files[0].pipeline is None:
        raise SpecError(diagnostics)
    the_plan = plan(files[0].pipeline)
    if output_format == "json":
        click.echo(json.dumps(the_plan.to_dict(), indent=2))
    elif output_format == "yaml":
        click.echo(to_yaml(the_plan.to_dict()), nl=False)
    else:
        click.echo(render_text(the_plan), nl=False)


def to_yaml(data: dict[str, Any]) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def render_text(the_plan: Plan) -> str:
    """The plan as indented text: stage, wave, job, then the job's settings."""
    lines = [
        f"pipeline '{the_plan.pipeline}' ({the_plan.source_file}):"
        f" {plural(len(the_plan.stages), 'stage')}, {plural(the_plan.job_count, 'job')}"
    ]
    for number, stage in enumerate(the_plan.stages, start=1):
        lines.append(f"stage {number}/{len(the_plan.stages)}: {stage.name}")
        for wave_number, wave in enumerate(stage.waves, start=1):
            together = " (in parallel)" if len(wave) > 1 else ""
            lines.append(f"  wave {wave_number}{together}")
            for job in wave:
                lines.extend(_job_lines(job))
    return "\n".join(lines) + "\n"


def _job_lines(job: Job) -> list[str]:
    details = [("image", job.image), ("timeout", format_duration(job.timeout_seconds))]
    if job.needs:
        details.append(("needs", ", ".join(job.needs)))
    if job.allow_failure.allowed:
        codes = ", ".join(str(code) for code in job.allow_failure.exit_codes)
        details.append(("allow failure", f"exit codes {codes}" if codes else "yes"))
    if job.retry:
        details.append(("retry", str(job.retry)))
    if job.tags:
        details.append(("tags", ", ".join(job.tags)))
    if job.variables:
        details.append(("variables", " ".join(f"{k}={v}" for k, v in job.variables.items())))
    if job.artifacts:
        paths = ", ".join(job.artifacts.paths)
        details.append(("artifacts", f"{paths} ({job.artifacts.when.value})"))
    lines = [f"    job {job.name}"]
    lines += [f"      {key + ':':<14} {value}" for key, value in details]
    lines.append("      script:")
    for command in job.script:
        first, *rest = command.rstrip("\n").split("\n")
        lines.append(f"        $ {first}")
        lines += [f"          {line}" for line in rest]
    return lines
