"""``xxci check``: validate pipeline files and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import asyncclick as click

from xxci.cli.options import (
    Selector,
    check_overrides,
    exits_cleanly,
    override_option,
    plural,
    selector_options,
)
from xxci.cli.selection import resolve_repo, selected_files
from xxci.common.errors import SpecError
from xxci.common.spec import diagnostics_of, load_files


@click.command("check")
@selector_options
@override_option
@exits_cleanly
def check(
    pipeline_file: Path | None,
    pipeline_name: str | None,
    repo: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Validate pipeline files.

    Without --file or --pipeline, checks every file in .pipelines/ and that their
    pipeline names are unique. Prints one line per valid file; every problem goes to
    stderr as FILE:LINE:COLUMN: MESSAGE.

    Exit status: 0 all valid, 1 invalid, 2 bad command line or nothing to check.
    """
    check_overrides(overrides)
    selector = Selector(pipeline_file, pipeline_name, resolve_repo(repo))
    files = load_files(selected_files(selector), overrides)
    for file in files:
        if file.pipeline is not None:
            p = file.pipeline
            click.echo(
                f"{file.display_name}: ok (pipeline '{p.name}',"
                f" {plural(len(p.stages), 'stage')}, {plural(len(p.jobs), 'job')})"
            )
    diagnostics = diagnostics_of(files)
    if diagnostics:
        raise SpecError(diagnostics)
