"""``parallel: N`` and ``parallel: matrix``: one job written, several run.

``parallel: 3`` makes ``test 1/3``, ``test 2/3`` and ``test 3/3``; a matrix makes one
job per combination of its values, named after them as GitLab names them
(``deploy: [aws, eu]``), each with its values as variables. Every instance gets
``CI_NODE_INDEX`` (from 1) and ``CI_NODE_TOTAL``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from xxci.common.spec import fields, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe

__all__ = ["Instance", "Matrix", "ParallelSpec", "instances", "read_matrix", "read_parallel"]

MAX_JOBS = 200

Combination = tuple[tuple[str, str], ...]
"""One job's matrix values, in the order the matrix lists its variables."""
Matrix = tuple[Combination, ...]


@dataclass(frozen=True)
class ParallelSpec:
    """``parallel: total`` (``matrix`` empty) or ``parallel: matrix`` (its combinations)."""

    total: int
    matrix: Matrix = ()
    loc: Loc = field(default_factory=Loc)


@dataclass(frozen=True)
class Instance:
    """One job made from a ``parallel`` job."""

    name: str
    index: int
    total: int
    values: Combination = ()


def read_parallel(c: Collector, entry: Entry, where: str) -> ParallelSpec | None:
    node = entry.value
    if (
        isinstance(node, Scalar)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        if not 1 <= node.value <= MAX_JOBS:
            c.error(node.loc, km.parallel_range(where, node.value))
            return None
        return ParallelSpec(node.value, (), node.loc)
    if not isinstance(node, Map):
        fields.wrong_type(c, entry, where, "a number of jobs or {matrix: [...]}")
        return None
    of = f"'parallel' of {where}"
    fields.check_keys(c, node, of, ("matrix",))
    matrix_entry = node.get("matrix")
    if matrix_entry is None:
        c.error(node.loc, messages.missing_key("matrix", of))
        return None
    matrix = read_matrix(c, matrix_entry, of)
    if matrix is None:
        return None
    if len(matrix) > MAX_JOBS:
        c.error(matrix_entry.value.loc, km.matrix_too_big(where, len(matrix)))
        return None
    return ParallelSpec(len(matrix), matrix, node.loc)


def read_matrix(c: Collector, entry: Entry, where: str) -> Matrix | None:
    """A list of ``{VAR: value or [values]}``, as every combination in order."""
    node = entry.value
    if not isinstance(node, Seq) or not node.items:
        fields.wrong_type(c, entry, where, "a list of {VARIABLE: [values]}")
        return None
    combinations: list[Combination] = []
    ok = True
    for item in fields.flatten(node).items:
        if not isinstance(item, Map) or not item.entries:
            c.error(
                item.loc,
                messages.wrong_type("matrix", where, "a mapping of variables", describe(item)),
            )
            ok = False
            continue
        axes: list[list[tuple[str, str]]] = []
        for variable in item:
            values = _values(c, variable, where)
            if values is None:
                ok = False
                continue
            axes.append([(variable.name, value) for value in values])
        combinations.extend(tuple(combo) for combo in itertools.product(*axes))
    return tuple(combinations) if ok else None


def _values(c: Collector, entry: Entry, where: str) -> list[str] | None:
    node = entry.value
    items: tuple[Node, ...] = node.items if isinstance(node, Seq) else (node,)
    values: list[str] = []
    for item in items:
        value = item.value if isinstance(item, Scalar) else None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            c.error(
                item.loc,
                messages.wrong_type(
                    entry.name, where, "a string or a list of strings", describe(item)
                ),
            )
            return None
        values.append(str(value))
    if not values:
        c.error(node.loc, messages.empty_value(entry.name, where))
        return None
    return values


def instances(name: str, spec: ParallelSpec) -> list[Instance]:
    """The jobs ``name`` stands for under ``spec``, in GitLab's order and names."""
    if not spec.matrix:
        return [
            Instance(f"{name} {i}/{spec.total}", i, spec.total) for i in range(1, spec.total + 1)
        ]
    total = len(spec.matrix)
    return [
        Instance(f"{name}: [{', '.join(value for _, value in combo)}]", index, total, combo)
        for index, combo in enumerate(spec.matrix, start=1)
    ]
