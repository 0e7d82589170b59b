"""Find the pipeline files of a repository, load them together, pick one.

Pipelines live in ``.pipelines/*.yml`` and ``.pipelines/*.yaml`` at the repository
root, and in the root's ``.gitlab-ci.yml``; each file is one pipeline and pipeline
names are unique across them (a ``.gitlab-ci.yml`` is named by its ``workflow: name``,
else ``gitlab-ci``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xxci.common.errors import Diagnostic, SpecError, UsageError
from xxci.common.spec import gitlab, messages
from xxci.common.spec.context import RunContext, predefined_variables
from xxci.common.spec.limits import DEFAULT_LIMITS, cpu_budget
from xxci.common.spec.loader import display_path, parse_text, read_text
from xxci.common.spec.model import Pipeline
from xxci.common.spec.parser import Document
from xxci.common.spec.tree import Loc
from xxci.common.spec.validate import build_with_notes, pipeline_name
from xxci.common.spec.variables import expand

PIPELINES_DIR = ".pipelines"
GITLAB_FILE = gitlab.FILE_NAME
SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class LoadedFile:
    """One pipeline file after loading: its pipeline, or the problems found in it."""

    path: Path
    display_name: str
    pipeline: Pipeline | None
    diagnostics: tuple[Diagnostic, ...] = ()
    name: str | None = None
    """``pipeline.name`` when it could be read, even if the file has other errors."""
    name_loc: Loc = field(default_factory=Loc, repr=False)
    notes: tuple[Diagnostic, ...] = ()
    """What is valid but not acted on (``check`` shows them)."""


def discover(repo_root: Path) -> list[Path]:
    """The pipeline files of ``repo_root``: ``.pipelines/`` sorted by name, then the
    root's ``.gitlab-ci.yml``.

    Raises :class:`UsageError` when there is neither a ``.gitlab-ci.yml`` nor a
    ``.pipelines/`` folder with files in it.
    """
    gitlab_file = repo_root / GITLAB_FILE
    found = [gitlab_file] if gitlab_file.is_file() else []
    folder = repo_root / PIPELINES_DIR
    if not folder.is_dir():
        if found:
            return found
        raise UsageError(messages.no_pipelines_dir(display_path(repo_root)))
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files and not found:
        raise UsageError(messages.no_pipeline_files(display_path(folder)))
    return files + found


def load_files(
    paths: Sequence[Path], overrides: Sequence[str] = (), context: RunContext | None = None
) -> list[LoadedFile]:
    """Load every file for ``context``, then check that pipeline names are unique."""
    loaded = [_load(path, overrides, context or RunContext()) for path in paths]
    by_name: dict[str, list[LoadedFile]] = defaultdict(list)
    for file in loaded:
        if file.name is not None:
            by_name[file.name].append(file)
    clashes: dict[Path, Diagnostic] = {}
    for name, files in by_name.items():
        for file in files if len(files) > 1 else ():
            others = ", ".join(other.display_name for other in files if other is not file)
            loc = file.name_loc
            message = messages.duplicate_pipeline_name(name, others)
            clashes[file.path] = Diagnostic(file.display_name, loc.line, loc.column, message)
    return [
        LoadedFile(
            f.path,
            f.display_name,
            None,
            tuple(sorted((*f.diagnostics, clash))),
            f.name,
            f.name_loc,
            f.notes,
        )
        if (clash := clashes.get(f.path))
        else f
        for f in loaded
    ]


def diagnostics_of(files: Sequence[LoadedFile]) -> list[Diagnostic]:
    return [d for file in files for d in file.diagnostics]


def select(
    repo_root: Path | None, *, file: Path | None = None, pipeline: str | None = None
) -> list[Path]:
    """The files a command works on: ``file``, the file whose pipeline is named
    ``pipeline``, or (neither given) every file of the repository.

    Raises :class:`UsageError` for both at once, for no repository where one is needed,
    and for an unknown pipeline name (the message lists the known ones).
    """
    if file is not None and pipeline is not None:
        raise UsageError(messages.BOTH_SELECTORS)
    if file is not None:
        if not file.is_file():
            raise UsageError(messages.no_such_file(str(file)))
        return [file]
    if repo_root is None:
        raise UsageError(messages.NOT_IN_REPOSITORY)
    paths = discover(repo_root)
    if pipeline is None:
        return paths
    names = {path: _peek_name(path) for path in paths}
    chosen = [path for path, name in names.items() if name == pipeline]
    if not chosen:
        known = sorted({name for name in names.values() if name is not None})
        raise UsageError(messages.unknown_pipeline(pipeline, known))
    return chosen


def _load(path: Path, overrides: Sequence[str], context: RunContext) -> LoadedFile:
    display = display_path(path)
    try:
        with cpu_budget(DEFAULT_LIMITS.cpu_seconds, display):
            return _loaded(path, display, overrides, context)
    except SpecError as error:
        return LoadedFile(path, display, None, tuple(error.diagnostics))


def _loaded(path: Path, display: str, overrides: Sequence[str], context: RunContext) -> LoadedFile:
    """Raises :class:`SpecError` when the file cannot be parsed at all."""
    document = parse_text(read_text(path, display), display, overrides)
    found = _name_of(document, context)
    name, name_loc = found if found else (None, Loc())
    pipeline, collector = build_with_notes(document, context)
    notes = tuple(collector.notes)
    if pipeline is None:
        diagnostics = tuple(sorted(collector.diagnostics))
        return LoadedFile(path, display, None, diagnostics, name, name_loc, notes)
    return LoadedFile(path, display, pipeline, (), pipeline.name, name_loc, notes)


def _name_of(document: Document, context: RunContext) -> tuple[str, Loc] | None:
    if not gitlab.is_gitlab(document):
        return pipeline_name(document.root)
    written = gitlab.workflow_name(document.root)
    if written is None:
        return gitlab.DEFAULT_NAME, Loc()
    variables = {**predefined_variables(context), **context.variables}
    return gitlab.pipeline_name(expand(written, variables)), Loc()


def _peek_name(path: Path) -> str | None:
    try:
        with cpu_budget(DEFAULT_LIMITS.cpu_seconds, str(path)):
            document = parse_text(read_text(path, str(path)), str(path))
            found = _name_of(document, RunContext())
    except SpecError:
        return None
    return found[0] if found else None
