"""Reuse inside a pipeline file: ``extends``, ``!reference`` and unknown tags.

Both work on the located tree, before any job is read, in GitLab's order: first every
``extends`` is merged (a ``!reference`` is an opaque value then), then every
``!reference`` is replaced by what it points at, in the merged jobs.

``extends`` merges as GitLab does: mappings merge key by key, the extending side
winning; anything else (lists included) is replaced whole. Several parents merge in
order, the last winning; a job's own keys win over all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from xxci.common.spec import fields
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, Tagged

__all__ = ["check_tags", "merge", "resolve_extends", "resolve_references"]

REFERENCE = "!reference"
MAX_EXTENDS_DEPTH = 11
MAX_REFERENCE_DEPTH = 10


def merge(base: Node, over: Node) -> Node:
    """GitLab's deep merge of ``over`` onto ``base``."""
    if not (_plain_map(base) and _plain_map(over)):
        return over
    assert isinstance(base, Map) and isinstance(over, Map)
    entries = {entry.key: entry for entry in base.entries}
    for entry in over.entries:
        old = entries.get(entry.key)
        value = merge(old.value, entry.value) if old is not None else entry.value
        entries[entry.key] = Entry(entry.key, entry.key_loc, value)
    return Map(tuple(entries.values()), over.loc)


def _plain_map(node: Node) -> bool:
    return isinstance(node, Map) and node.tag is None


def without(node: Map, key: str) -> Map:
    return Map(tuple(e for e in node.entries if e.key != key), node.loc, node.tag)


def check_tags(c: Collector, node: Node) -> None:
    """Report every tag other than ``!reference`` (on a list) anywhere under ``node``."""
    if isinstance(node, Scalar):
        if isinstance(node.value, Tagged):
            if node.value.tag == REFERENCE:
                c.root_cause(node.loc, km.reference_shape())
            else:
                c.root_cause(node.loc, km.unknown_tag(node.value.tag))
        return
    if node.tag is not None and node.tag != REFERENCE:
        c.root_cause(node.loc, km.unknown_tag(node.tag))
    if isinstance(node, Map):
        if node.tag == REFERENCE:
            c.root_cause(node.loc, km.reference_shape())
        for entry in node:
            check_tags(c, entry.value)
    else:
        for item in node.items:
            check_tags(c, item)


def resolve_extends(c: Collector, jobs: Mapping[str, Entry]) -> dict[str, Entry]:
    """Every entry of ``jobs`` (jobs and templates by name) with its ``extends`` merged
    in; unknown parents, cycles and too deep chains are reported at their ``extends``."""
    resolved: dict[str, Map | None] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Map | None:
        if name in resolved:
            return resolved[name]
        node = jobs[name].value
        assert isinstance(node, Map)
        extends = node.get("extends")
        if extends is None:
            resolved[name] = node
            return node
        parents = _parent_names(c, extends, f"job '{name}'")
        result: Node = Map((), node.loc)
        ok = parents is not None
        for parent, loc in parents or ():
            parent_node = _parent(c, jobs, name, parent, loc, chain)
            if parent_node is None:
                ok = False
                continue
            result = merge(result, without(parent_node, "extends"))
        merged = merge(result, without(node, "extends"))
        assert isinstance(merged, Map)
        resolved[name] = merged if ok else None
        return resolved[name]

    def _parent(
        c: Collector,
        jobs: Mapping[str, Entry],
        name: str,
        parent: str,
        loc: Loc,
        chain: tuple[str, ...],
    ) -> Map | None:
        if parent not in jobs:
            c.error(loc, km.extends_unknown(name, parent, [k for k in jobs if k != name]))
            return None
        if parent in chain or parent == name:
            ring = [*chain[chain.index(parent) :], parent] if parent in chain else [name, name]
            c.error(loc, km.extends_cycle(ring))
            return None
        if len(chain) >= MAX_EXTENDS_DEPTH:
            c.error(loc, km.extends_too_deep(chain[0]))
            return None
        if not isinstance(jobs[parent].value, Map):
            c.error(loc, km.extends_not_mapping(name, parent))
            return None
        return resolve(parent, (*chain, parent))

    result: dict[str, Entry] = {}
    for name, entry in jobs.items():
        if isinstance(entry.value, Map):
            node = resolve(name, (name,))
            if node is not None:
                result[name] = Entry(entry.key, entry.key_loc, node)
        else:
            result[name] = entry
    return result


def _parent_names(c: Collector, entry: Entry, where: str) -> list[tuple[str, Loc]] | None:
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return [(node.value, node.loc)]
    return fields.located_strings(c, entry, where, "a template name or a list of them")


def resolve_references(c: Collector, node: Node, top: Mapping[str, Node]) -> Node:
    """``node`` with every ``!reference [name, key, ...]`` replaced by the value it names
    in ``top`` (the file's top-level keys, jobs merged). A reference that is an item of
    a list and names a list puts that list's items in its place."""
    return _Resolver(c, top).node(node, 0, ())


class _Resolver:
    def __init__(self, c: Collector, top: Mapping[str, Node]) -> None:
        self._c = c
        self._top = top
        self._origin = Loc()
        self._problems = 0

    def node(self, node: Node, depth: int, active: tuple[tuple[str, ...], ...]) -> Node:
        if isinstance(node, Seq) and node.tag == REFERENCE:
            return self._reference(node, depth, active)
        if isinstance(node, Map):
            entries = tuple(
                Entry(e.key, e.key_loc, self.node(e.value, depth, active)) for e in node.entries
            )
            return Map(entries, node.loc, node.tag)
        if isinstance(node, Seq):
            items: list[Node] = []
            inner = 0
            problems = self._problems
            for item in node.items:
                resolved = self.node(item, depth, active)
                if isinstance(resolved, Seq):
                    inner = max(inner, resolved.nesting)
                if isinstance(item, Seq) and item.tag == REFERENCE and isinstance(resolved, Seq):
                    items.extend(resolved.items)  # GitLab nests it; its readers flatten
                else:
                    items.append(resolved)
            if self._problems > problems:
                inner = 0  # a broken reference inside: its own error says it all
            return Seq(tuple(items), node.loc, node.tag, 1 + inner)
        return node

    def _reference(self, node: Seq, depth: int, active: tuple[tuple[str, ...], ...]) -> Node:
        """What the reference names, its own references resolved; a problem is reported
        at the outermost reference (where the job uses it) as the one error there."""
        if depth == 0:
            self._origin = node.loc
        path = [i.value for i in node.items if isinstance(i, Scalar) and isinstance(i.value, str)]
        problem = ""
        found: Node | None = None
        if not path or len(path) != len(node.items):
            problem = km.reference_shape()
        elif depth >= MAX_REFERENCE_DEPTH:
            problem = km.reference_too_deep()
        elif tuple(path) in active:
            problem = km.reference_cycle(path)
        else:
            found = self._top.get(path[0])
            missing = path[0] if found is None else ""
            for name in path[1:]:
                inner = found.get(name) if isinstance(found, Map) else None
                if inner is None:
                    missing = missing or name
                    break
                found = inner.value
            if missing:
                problem = km.reference_unknown(path, missing)
        if problem or found is None:
            where = self._origin if depth else node.loc
            self._c.root_cause(where, problem)
            self._problems += 1
            return Scalar(None, where)
        return self.node(found, depth + 1, (*active, tuple(path)))
