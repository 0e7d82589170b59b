"""``xxci check``: validate pipeline files and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.options import (
    Selector,
    check_overrides,
    context_options,
    exits_cleanly,
    override_option,
    plural,
    selector_options,
)
from xxci.cli.repo.run_context import run_context
from xxci.cli.repo.selection import context_root, resolve_repo, selected_files
from xxci.common.errors import SpecError
from xxci.common.printable import printable
from xxci.common.spec import diagnostics_of, load_files


@click.command("check")
@selector_options
@override_option
@click.option("--branch", help="Branch the rules are decided for (default: the checked-out one).")
@context_options
@exits_cleanly
def check(
    pipeline_file: Path | None,
    pipeline_name: str | None,
    repo: str | None,
    overrides: tuple[str, ...],
    branch: str | None,
    source: str,
    variables: tuple[str, ...],
) -> None:
    """Validate pipeline files.

    Without --file or --pipeline, checks every file in .pipelines/ and the root's
    .gitlab-ci.yml, and that their pipeline names are unique. Prints one line per valid
    file, then a note for each keyword that is accepted but not acted on; every problem
    goes to stderr as FILE:LINE:COLUMN: MESSAGE.

    Exit status: 0 all valid, 1 invalid, 2 bad command line or nothing to check.
    """
    check_overrides(overrides)
    selector = Selector(pipeline_file, pipeline_name, resolve_repo(repo))
    paths = selected_files(selector)
    context = run_context(
        context_root(selector, paths), branch=branch, source=source, variables=variables
    )
    files = load_files(paths, overrides, context)
    for file in files:
        if file.pipeline is not None:
            p = file.pipeline
            left_out = f", {len(p.excluded)} left out by rules" if p.excluded else ""
            click.echo(
                f"{file.display_name}: ok (pipeline '{printable(p.name)}',"
                f" {plural(len(p.stages), 'stage')}, {plural(len(p.jobs), 'job')}{left_out})"
            )
            if p.not_run:
                click.echo(printable(f"{file.display_name}: no run for this push: {p.not_run}"))
        for note in file.notes:
            click.echo(printable(str(note)))
    diagnostics = diagnostics_of(files)
    if diagnostics:
        raise SpecError(diagnostics)


command = check
