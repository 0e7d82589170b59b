"""Options and error handling shared by the commands that read pipeline files.

``selector_options`` adds ``--file``/``--pipeline``/``--repo``, ``override_option`` adds
the repeatable ``--override``; ``exits_cleanly`` turns an :class:`XxciError` into
one line on stderr (every diagnostic for a :class:`SpecError`) and its exit code,
never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

import asyncclick as click

from xxci.common.errors import Diagnostic, SpecError, UsageError, XxciError
from xxci.common.printable import printable
from xxci.common.spec import parse_override

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Selector:
    """What ``--file``, ``--pipeline`` and ``--repo`` asked for."""

    file: Path | None = None
    pipeline: str | None = None
    repo: Path | None = None


def selector_options(command: F) -> F:
    """Add ``--file PATH``, ``--pipeline NAME`` and ``--repo PATH|URL`` (passed as
    ``pipeline_file``, ``pipeline_name`` and ``repo``; turn ``repo`` into a folder with
    :func:`xxci.cli.repo.selection.resolve_repo`)."""
    options = [
        click.option(
            "--file",
            "pipeline_file",
            metavar="PATH",
            type=click.Path(path_type=Path),
            help="One pipeline file (relative to --repo when that is given).",
        ),
        click.option(
            "--pipeline",
            "pipeline_name",
            metavar="NAME",
            help="The pipeline of .pipelines/ whose pipeline.name is NAME.",
        ),
        click.option(
            "--repo",
            metavar="PATH|URL",
            help="The repository: a folder, or a git URL to clone (default: the git "
            "repository around the current folder).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def override_option(command: F) -> F:
    """Add the repeatable ``--override KEY.PATH=VALUE`` (passed as ``overrides``)."""
    return click.option(
        "--override",
        "overrides",
        multiple=True,
        metavar="KEY.PATH=VALUE",
        help="Patch the pipeline before validation, e.g. default.image=alpine:3 or "
        "jobs.compile.timeout=10m (the value is YAML); quote a name that holds dots: "
        'jobs."unit.test".image=alpine. Repeatable.',
    )(command)


def context_options(command: F) -> F:
    """Add what rules are decided against: ``--source`` and the repeatable
    ``--variable NAME=VALUE`` (passed as ``source`` and ``variables``)."""
    from xxci.cli.repo.run_context import SOURCES

    options = [
        click.option(
            "--source",
            type=click.Choice(SOURCES),
            default="push",
            show_default=True,
            help="What the run is for (CI_PIPELINE_SOURCE), as rules see it.",
        ),
        click.option(
            "--variable",
            "variables",
            multiple=True,
            metavar="NAME=VALUE",
            help="A variable for this run; it wins over the file's. Repeatable.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_overrides(overrides: Sequence[str]) -> None:
    """Raise :class:`UsageError` for the first malformed override."""
    for text in overrides:
        parse_override(text)


MAX_NUMBER = 2**63 - 1
"""The largest run number, attempt or event position there can be (a 64-bit integer)."""


def whole_number(value: str | None, flag: str, minimum: int = 1) -> int:
    """The ``value`` given to ``flag`` as an int (0 when absent); a UsageError naming
    the flag when it is not a whole number of at least ``minimum``."""
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{flag} takes a whole number, not {value!r}") from None
    if number < minimum:
        raise UsageError(f"{flag} takes a number of at least {minimum}, not {number}")
    if number > MAX_NUMBER:
        raise UsageError(f"{flag} takes a number of at most {MAX_NUMBER}, not {number}")
    return number


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class Size(click.ParamType[int]):
    """A size in bytes: ``1048576``, ``512KiB``, ``16MiB``, ``2G`` (binary units)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        number = text.rstrip("kmgtib")
        unit = text[len(number) :].removesuffix("b").removesuffix("i")
        try:
            size = int(float(number) * _UNITS[unit])
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (like 16MiB, 512KiB, 2GiB)", param, ctx)
        if size < 1:
            self.fail(f"{value!r} must be at least 1 byte", param, ctx)
        return size


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def echo_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    """Every diagnostic on stderr, then ``N errors in M files``."""
    for diagnostic in diagnostics:
        click.echo(printable(str(diagnostic)), err=True)
    files = len({diagnostic.file for diagnostic in diagnostics})
    click.echo(f"{plural(len(diagnostics), 'error')} in {plural(files, 'file')}", err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report an :class:`XxciError` raised inside as text and exit with its code."""
    try:
        yield
    except SpecError as error:
        echo_diagnostics(error.diagnostics)
        raise click.exceptions.Exit(error.exit_code) from None
    except XxciError as error:
        click.echo(f"error: {printable(str(error), keep_newlines=True)}", err=True)
        raise click.exceptions.Exit(error.exit_code) from None


@overload
def exits_cleanly(
    command: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]: ...
@overload
def exits_cleanly(command: Callable[P, R]) -> Callable[P, R]: ...
def exits_cleanly(command: Callable[P, Any]) -> Callable[P, Any]:
    """Decorate a command (sync or async) so that user errors end it cleanly."""
    if inspect.iscoroutinefunction(command):

        @functools.wraps(command)
        async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            with user_errors():
                return await command(*args, **kwargs)

        return run_async

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> Any:
        with user_errors():
            return command(*args, **kwargs)

    return run
