"""Load one pipeline file: read, parse, apply overrides, validate.

The only I/O in the spec package is reading the file itself and, through the run
context's :class:`~xxci.common.spec.files.RepoFiles`, the files it includes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from xxci.common.errors import Diagnostic, SpecError
from xxci.common.spec import messages
from xxci.common.spec.context import RunContext
from xxci.common.spec.limits import DEFAULT_LIMITS, SpecLimits, cpu_budget, too_large
from xxci.common.spec.model import Pipeline
from xxci.common.spec.overrides import apply_overrides
from xxci.common.spec.parser import Document, parse_document
from xxci.common.spec.validate import build_pipeline


def load_pipeline_text(
    text: str,
    file_name: str,
    overrides: Sequence[str] = (),
    context: RunContext | None = None,
    limits: SpecLimits = DEFAULT_LIMITS,
) -> Pipeline:
    """Validate a pipeline file's text and resolve it into a :class:`Pipeline` for the
    run ``context`` describes (default: a push to ``main`` with no repository files).

    ``file_name`` is what diagnostics (and ``Pipeline.source_file``) call the file.
    Raises :class:`SpecError` with every problem found (one, for a limit exceeded), or
    :class:`UsageError` for a malformed override.
    """
    with cpu_budget(limits.cpu_seconds, file_name):
        document = parse_text(text, file_name, overrides, limits)
        return build_pipeline(document, context, limits)


def load_pipeline_file(
    path: Path,
    overrides: Sequence[str] = (),
    display_name: str | None = None,
    context: RunContext | None = None,
    limits: SpecLimits = DEFAULT_LIMITS,
) -> Pipeline:
    """Read and load ``path``; diagnostics name it ``display_name`` (default:
    :func:`display_path`). Raises like :func:`load_pipeline_text`; an unreadable file
    is a :class:`SpecError` too."""
    name = display_name or display_path(path)
    return load_pipeline_text(read_text(path, name, limits), name, overrides, context, limits)


def parse_text(
    text: str,
    file_name: str,
    overrides: Sequence[str] = (),
    limits: SpecLimits = DEFAULT_LIMITS,
) -> Document:
    """Parse and patch, without validating (for discovery, which needs the name only)."""
    document = parse_document(text, file_name, limits=limits)
    if overrides:
        document = dataclasses.replace(document, root=apply_overrides(document.root, overrides))
    return document


def read_text(path: Path, file_name: str, limits: SpecLimits = DEFAULT_LIMITS) -> str:
    """The file's text; :class:`SpecError` if it cannot be read, is not UTF-8 or is
    larger than ``limits.max_bytes`` (then only that much of it is read)."""
    try:
        with path.open("rb") as file:
            head = file.read(limits.max_bytes + 1)
            if len(head) > limits.max_bytes:
                size = os.fstat(file.fileno()).st_size
                raise SpecError([too_large(file_name, max(size, len(head)), head, limits)])
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        reason = "it is not UTF-8 text"
        raise SpecError([Diagnostic(file_name, 1, 1, messages.cannot_read(reason))]) from error
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise SpecError([Diagnostic(file_name, 1, 1, messages.cannot_read(reason))]) from error


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to the current directory when it is under it, else as given."""
    base = (cwd or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(base))
    except (ValueError, OSError):
        return str(path)
