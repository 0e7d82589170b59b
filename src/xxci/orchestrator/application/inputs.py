"""What a client sends, checked before anything is done with it.

Every request reaches the service from a client that may be hostile or broken: text
that cannot be stored or shown (NUL, lone surrogates), blob digests that are not
digests, numbers past what the store can hold. Each is refused here with a one-line
:class:`~xxci.common.errors.UsageError` (INVALID_ARGUMENT on the wire) or, for a
number past any run, job attempt or event that can exist, read as "none such".
"""

from __future__ import annotations

from dataclasses import fields

from xxci.common.api import Submission
from xxci.common.errors import UsageError
from xxci.common.printable import printable
from xxci.orchestrator.store.blob_store import parse_digest

__all__ = ["MAX_NUMBER", "check_digest", "check_submission", "check_text", "position"]

MAX_NUMBER = 2**63 - 1
"""The largest number the store holds (SQLite's and PostgreSQL's 64-bit integers)."""


def check_text(value: str, what: str) -> None:
    """UsageError when ``value`` holds a NUL or is not valid Unicode."""
    problem = ""
    if "\0" in value:
        problem = "holds a NUL character"
    else:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid Unicode (it holds a lone surrogate)"
    if problem:
        shown = printable(value[:60]) + ("..." if len(value) > 60 else "")
        raise UsageError(f"{what} {problem}: '{shown}'")


def check_digest(digest: str, what: str = "blob digest") -> None:
    """UsageError unless ``digest`` is ``sha256:<64 lowercase hex>``."""
    try:
        parse_digest(digest)
    except ValueError:
        shown = printable(digest[:80])
        raise UsageError(f"invalid {what} '{shown}': expected sha256:<64 lowercase hex>") from None


def check_submission(submission: Submission) -> None:
    """Every text of ``submission`` is storable; its source blob digest well formed."""
    for field in fields(Submission):
        value = getattr(submission, field.name)
        if isinstance(value, str):
            check_text(value, field.name.replace("_", " "))
    for override in submission.overrides:
        check_text(override, "--override")
    context = submission.context
    if context is not None:
        for name, value in context.variables.items():
            check_text(name, "variable name")
            check_text(value, f"variable {printable(name)}")
        for name in ("tag", "commit_message", "default_branch", "source", "project"):
            check_text(getattr(context, name), name.replace("_", " "))
        for path in context.changed_files or ():
            check_text(path, "changed file")
    if submission.source_blob:
        check_digest(submission.source_blob, "source blob digest")


def position(value: int, what: str) -> int:
    """A sequence number or count from a client: UsageError when negative; past the
    largest the store holds it means "the end", so it is clamped to it."""
    if value < 0:
        raise UsageError(f"{what} must be 0 or more, not {value}")
    return min(value, MAX_NUMBER)
