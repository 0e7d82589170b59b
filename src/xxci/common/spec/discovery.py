"""Find the pipeline files of a repository, load them together, pick one.

Pipelines live in ``.pipelines/*.yml`` and ``.pipelines/*.yaml`` at the repository
root; each file is one pipeline and pipeline names are unique across the folder.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xxci.common.errors import Diagnostic, SpecError, UsageError
from xxci.common.spec import messages
from xxci.common.spec.loader import display_path, parse_text, read_text
from xxci.common.spec.model import Pipeline
from xxci.common.spec.tree import Loc
from xxci.common.spec.validate import build_pipeline, pipeline_name

PIPELINES_DIR = ".pipelines"
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


def discover(repo_root: Path) -> list[Path]:
    """The pipeline files of ``repo_root``, sorted by name.

    Raises :class:`UsageError` when there is no ``.pipelines/`` folder or no file in it.
    """
    folder = repo_root / PIPELINES_DIR
    if not folder.is_dir():
        raise UsageError(messages.no_pipelines_dir(display_path(repo_root)))
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise UsageError(messages.no_pipeline_files(display_path(folder)))
    return files


def load_files(paths: Sequence[Path], overrides: Sequence[str] = ()) -> list[LoadedFile]:
    """Load every file, then check that pipeline names are unique among them."""
    loaded = [_load(path, overrides) for path in paths]
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
            f.path, f.display_name, None, tuple(sorted((*f.diagnostics, clash))), f.name, f.name_loc
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


def _load(path: Path, overrides: Sequence[str]) -> LoadedFile:
    display = display_path(path)
    try:
        document = parse_text(read_text(path, display), display, overrides)
    except SpecError as error:
        return LoadedFile(path, display, None, tuple(error.diagnostics))
    found = pipeline_name(document.root)
    name, name_loc = found if found else (None, Loc())
    try:
        pipeline = build_pipeline(document)
    except SpecError as error:
        return LoadedFile(path, display, None, tuple(error.diagnostics), name, name_loc)
    return LoadedFile(path, display, pipeline, (), name, name_loc)


def _peek_name(path: Path) -> str | None:
    try:
        found = pipeline_name(parse_text(read_text(path, str(path)), str(path)).root)
    except SpecError:
        return None
    return found[0] if found else None
