"""``xxci dry-run``: the execution plan of one pipeline, without running anything."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import asyncclick as click
from ruamel.yaml import YAML

from xxci.cli.display.plan_text import render_text
from xxci.cli.options import (
    Selector,
    check_overrides,
    context_options,
    exits_cleanly,
    override_option,
    selector_options,
)
from xxci.cli.repo.run_context import run_context
from xxci.cli.repo.selection import context_root, resolve_repo, selected_files
from xxci.common.errors import SpecError, UsageError
from xxci.common.printable import printable
from xxci.common.spec import (
    diagnostics_of,
    display_path,
    load_files,
    messages,
    plan,
)


@click.command("dry-run")
@selector_options
@override_option
@click.option("--branch", help="Branch the plan is for (default: the checked-out one).")
@context_options
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
    branch: str | None,
    source: str,
    variables: tuple[str, ...],
    output_format: str,
) -> None:
    """Show what a run would do: stages in order, each as waves of jobs.

    The jobs of a wave can run in parallel; each wave needs only earlier ones. Jobs
    that rules, only or except leave out are listed with the reason; manual and delayed
    jobs, the needs between jobs and the jobs parallel makes are shown. The plan is for
    a push of the checked-out branch (--branch, --source and --variable change that).
    Without --file or --pipeline, the repository must hold exactly one pipeline.
    Validation errors are reported as by `xxci check`.

    Exit status: 0 plan shown, 1 invalid pipeline, 2 bad command line.
    """
    check_overrides(overrides)
    selector = Selector(pipeline_file, pipeline_name, resolve_repo(repo))
    paths = selected_files(selector)
    if len(paths) > 1 and pipeline_name is None:
        raise UsageError(messages.several_pipelines([display_path(path) for path in paths]))
    context = run_context(
        context_root(selector, paths), branch=branch, source=source, variables=variables
    )
    files = load_files(paths, overrides, context)
    diagnostics = diagnostics_of(files)
    if diagnostics or files[0].pipeline is None:
        raise SpecError(diagnostics)
    the_plan = plan(files[0].pipeline)
    if output_format == "json":
        click.echo(json.dumps(the_plan.to_dict(), indent=2))
    elif output_format == "yaml":
        click.echo(to_yaml(the_plan.to_dict()), nl=False)
    else:
        click.echo(printable(render_text(the_plan), keep_newlines=True), nl=False)


def to_yaml(data: dict[str, Any]) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


command = dry_run
