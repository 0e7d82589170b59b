"""``xxci run``: submit a pipeline and follow it to the end."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import asyncclick as click
from rich.console import Console

from xxci.cli.client.connect import again_flags, connect, server_options
from xxci.cli.display.follow import follow_run
from xxci.cli.options import (
    Selector,
    check_overrides,
    context_options,
    exits_cleanly,
    override_option,
    selector_options,
    whole_number,
)
from xxci.cli.repo.gitinfo import describe
from xxci.cli.repo.run_context import run_context
from xxci.cli.repo.selection import context_root, resolve_repo, selected_files
from xxci.cli.repo.source import prepare_source
from xxci.common.api import OrchestratorApi, Submission
from xxci.common.errors import SpecError, UsageError
from xxci.common.spec import LoadedFile, Pipeline, diagnostics_of, display_path, load_files, plan
from xxci.common.spec.context import RunContext
from xxci.common.spec.runtime_support import refuse_unsupported

MAX_LOCAL_JOBS = 32
"""The most jobs a ``--local`` run runs at once unless ``--jobs`` says otherwise."""


async def submit_and_follow(
    api: OrchestratorApi,
    *,
    pipeline_file: Path,
    repo_root: Path,
    overrides: tuple[str, ...],
    branch: str | None,
    commit: str | None,
    verbose: bool,
    console: Console,
    local: bool = False,
    context: RunContext | None = None,
    again: str = "",
) -> bool:
    """Upload the source, submit, show progress until the run ends; True on success.
    ``again``: the options that reach the orchestrator, for the commands suggested."""
    checkout = describe(repo_root, branch, commit)
    with tempfile.TemporaryDirectory(prefix="xxci-src-") as tmp:
        source, yaml_text = await asyncio.to_thread(
            prepare_source, repo_root, pipeline_file, Path(tmp), checkout.commit if commit else None
        )
        source_blob = await api.upload_source(source)
    submitted = await api.submit(
        Submission(
            file_name=display_path(pipeline_file),
            yaml_text=yaml_text,
            overrides=overrides,
            repo=checkout.repo,
            branch=checkout.branch,
            commit=checkout.commit,
            source_blob=source_blob,
            context=context,
        )
    )
    console.print(
        f"run {submitted.run_id}: pipeline {submitted.pipeline} #{submitted.number}"
        + (f" on {checkout.branch}" if checkout.branch else "")
        + (f" at {checkout.commit[:12]}" if checkout.commit else ""),
        highlight=False,
        markup=False,
    )
    return await follow_run(
        api, submitted.run_id, console, verbose=verbose, local=local, again=again
    )


def local_jobs(pipeline: Pipeline, jobs: str | None) -> int:
    """How many jobs a ``--local`` run runs at once: ``--jobs``, or as many as the
    widest wave of the plan can use (at most :data:`MAX_LOCAL_JOBS`)."""
    if jobs is not None:
        return whole_number(jobs, "--jobs")
    return max(1, min(plan(pipeline).widest_wave, MAX_LOCAL_JOBS))


def make_console() -> Console:
    return Console(file=sys.stdout, highlight=False)


def pick_one(files: list[LoadedFile]) -> LoadedFile:
    """The one pipeline a run is about; several without a selector is a usage error."""
    diagnostics = diagnostics_of(files)
    if len(files) > 1:
        names = ", ".join(sorted(f.name or f.display_name for f in files))
        raise UsageError(
            f"several pipelines in the repository ({names}): pick one with --pipeline NAME"
        )
    if diagnostics:
        raise SpecError(diagnostics)
    return files[0]


@click.command("run")
@selector_options
@override_option
@server_options
@click.option("--branch", help="Branch to record (default: the checked-out branch).")
@click.option(
    "--commit",
    help="Run the tree of this commit (default: the working tree, recorded as HEAD).",
)
@context_options
@click.option(
    "-j",
    "--jobs",
    metavar="N",
    help="With --local: run at most N jobs at once (default: as many as the widest wave"
    f" of the plan, at most {MAX_LOCAL_JOBS}).",
)
@click.option("-v", "--verbose", is_flag=True, help="Stream every job's output.")
@exits_cleanly
async def run(
    pipeline_file: Path | None,
    pipeline_name: str | None,
    repo: str | None,
    overrides: tuple[str, ...],
    local: bool,
    server: str | None,
    token: str | None,
    tls_ca: Path | None,
    branch: str | None,
    commit: str | None,
    source: str,
    variables: tuple[str, ...],
    jobs: str | None,
    verbose: bool,
) -> None:
    """Run a pipeline and follow it to the end.

    Validates the pipeline file, uploads the source tree, submits the run to the
    orchestrator (--server, XXCI_SERVER, or --local for the local one) and shows
    each job's state as it changes. Exit status: 0 success, 1 the run failed or was
    canceled (or the file is invalid), 2 bad command line.
    """
    check_overrides(overrides)
    if jobs is not None and not local:
        raise UsageError("--jobs goes with --local (a server's workers have their own capacity)")
    repo_path = resolve_repo(repo, branch=branch)
    selector = Selector(pipeline_file, pipeline_name, repo_path)
    paths = selected_files(selector)
    root = context_root(selector, paths) or paths[0].resolve().parent
    context = run_context(root, branch=branch, commit=commit, source=source, variables=variables)
    chosen = pick_one(load_files(paths, overrides, context))
    assert chosen.pipeline is not None
    refuse_unsupported(chosen.pipeline)
    capacity = local_jobs(chosen.pipeline, jobs) if local else 0
    console = make_console()
    async with connect(local, server, token, tls_ca, jobs=capacity) as api:
        ok = await submit_and_follow(
            api,
            pipeline_file=chosen.path,
            repo_root=root,
            overrides=overrides,
            branch=branch,
            commit=commit,
            verbose=verbose,
            console=console,
            local=local,
            context=context,
            again=again_flags(local, server, tls_ca),
        )
    if not ok:
        raise click.exceptions.Exit(1)


command = run
