"""The parsed pipeline file as a small tree in which every node knows where it is.

The parser builds it from ruamel.yaml's round-trip objects (which keep positions on
their parents), overrides patch it, and the validator reads it. Positions are 1-based;
a node that an ``--override`` put there carries ``overridden=True``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from xxci.common.printable import printable


@dataclass(frozen=True)
class Loc:
    """A 1-based line and column in the pipeline file."""

    line: int = 1
    column: int = 1
    overridden: bool = False
    """True for a value that came from ``--override`` rather than the file."""
    file: str = ""
    """The file the value is in when it is not the pipeline file itself (an include)."""


@dataclass(frozen=True, eq=False)
class Scalar:
    """A plain value: str, int, float, bool, None, a date, or some other YAML scalar."""

    value: object
    loc: Loc


@dataclass(frozen=True)
class Tagged:
    """A scalar with an application tag (``!reference x``): never valid in a pipeline."""

    tag: str
    text: str


@dataclass(frozen=True, eq=False)
class Seq:
    items: tuple[Node, ...]
    loc: Loc
    tag: str | None = None
    """An application tag on the list (``!reference [a, b]``), else None."""
    nesting: int = 1
    """How deep lists are nested in it, itself included, as GitLab counts them: the
    lists that ``!reference`` puts in its place count (set once references are
    resolved)."""


@dataclass(frozen=True, eq=False)
class Entry:
    """One ``key: value`` pair of a mapping."""

    key: object
    key_loc: Loc
    value: Node

    @property
    def name(self) -> str:
        """The key as text, for messages."""
        return describe_key(self.key)


@dataclass(frozen=True, eq=False)
class Map:
    """A mapping, keys in file order, duplicates already removed (and reported)."""

    entries: tuple[Entry, ...]
    loc: Loc
    tag: str | None = None

    @cached_property
    def _index(self) -> dict[object, Entry]:
        index: dict[object, Entry] = {}
        for entry in self.entries:
            index.setdefault(entry.key, entry)
        return index

    def get(self, key: str) -> Entry | None:
        return self._index.get(key)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)


Node = Scalar | Seq | Map


def describe_key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def describe(node: Node) -> str:
    """What a value is, for "expected X, found Y" messages."""
    if isinstance(node, Map | Seq) and node.tag is not None:
        return f"a value tagged {node.tag}"
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"'{shorten(value)}'"
    if isinstance(value, datetime.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, Tagged):
        return f"a value tagged {value.tag}"
    return "a value of an unsupported type"


def shorten(text: str, width: int = 40) -> str:
    """One line of at most ``width`` characters, for quoting a value in a message."""
    line = printable(text[: width + 1].replace("\n", "\\n"))
    return line if len(line) <= width and len(text) <= width else line[: width - 3] + "..."
