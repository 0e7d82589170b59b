"""The shared option helpers: clean exits for user errors, sync or async."""

from __future__ import annotations

import asyncclick as click
from asyncclick.testing import CliRunner

from xxci.cli.options import exits_cleanly
from xxci.common.errors import Diagnostic, NotFoundError, SpecError, UsageError


@click.command()
@click.argument("what")
@exits_cleanly
async def async_command(what: str) -> None:
    if what == "usage":
        raise UsageError("bad flag")
    if what == "missing":
        raise NotFoundError("no run 7")
    if what == "spec":
        raise SpecError([Diagnostic("b.yml", 2, 1, "two"), Diagnostic("a.yml", 1, 1, "one")])
    click.echo("fine")


@click.command()
@exits_cleanly
def sync_command() -> None:
    raise UsageError("sync too")


async def test_user_errors_end_in_one_line_and_their_exit_code() -> None:
    runner = CliRunner()
    cases = {
        "usage": (2, "error: bad flag\n"),
        "missing": (1, "error: no run 7\n"),
        "spec": (1, "a.yml:1:1: one\nb.yml:2:1: two\n2 errors in 2 files\n"),
    }
    for what, (code, stderr) in cases.items():
        result = await runner.invoke(async_command, [what], catch_exceptions=False)
        assert (result.exit_code, result.stdout, result.stderr) == (code, "", stderr)
    ok = await runner.invoke(async_command, ["ok"], catch_exceptions=False)
    assert (ok.exit_code, ok.stdout) == (0, "fine\n")


async def test_sync_commands_too() -> None:
    result = await CliRunner().invoke(sync_command, [], catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (2, "error: sync too\n")
