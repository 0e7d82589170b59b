"""``include:``: other files of the repository merged into the pipeline file.

``include`` takes a path, a list of paths, or ``{local: PATH, rules: [...]}`` items; a
path must name a ``.yml``/``.yaml`` file, and may hold ``*`` wildcards (``ci/*.yml``,
``ci/**.yml``, as GitLab matches them) and ``$VAR`` of the run's context. Paths are
relative to the repository root, whichever file includes them. Included files may
include others (at most 150 files in all). They are merged in order, each over the one
before, and the including file over them all, with the deep merge of ``extends``.
``remote``, ``project``, ``template`` and ``component`` are refused: xxci reads only
the repository it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xxci.common.errors import Diagnostic, SpecError
from xxci.common.spec import fields
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.fields import Collector
from xxci.common.spec.files import RepoFiles, wildcard_matching
from xxci.common.spec.parser import parse_document
from xxci.common.spec.templates import merge, without
from xxci.common.spec.tree import Entry, Loc, Map, Node, Scalar, Seq, describe
from xxci.common.spec.variables import expand

__all__ = ["MAX_INCLUDES", "resolve_includes"]

MAX_INCLUDES = 150
INCLUDE_KEYS = (
    "local",
    "remote",
    "project",
    "file",
    "ref",
    "template",
    "component",
    "rules",
    "inputs",
)
REMOTE_KINDS = ("remote", "project", "template", "component")
YAML_SUFFIXES = (".yml", ".yaml")

RuleCheck = Callable[[Collector, Entry, str], bool]
"""Evaluates an include's ``rules`` (the entry) against the run; True to include."""


def resolve_includes(
    c: Collector,
    root: Map,
    files: RepoFiles,
    variables: dict[str, str],
    rules: RuleCheck,
    combine: Callable[[Node, Node], Node] = merge,
    own_path: str = "",
    duplicates: Callable[[Sequence[Diagnostic]], None] | None = None,
) -> Map:
    """``root`` with every file it includes merged under it (reported problems leave
    the include out). ``combine`` merges two documents (``merge`` by default);
    ``own_path`` is the including file's path in the repository; ``duplicates``
    reports the repeated keys of included files (as errors by default)."""
    own = (own_path.lstrip("/").removeprefix("./"),) if own_path else ()
    report = duplicates or c.diagnostics.extend
    return _Includer(c, files, variables, rules, combine, report).document(root, own)


class _Includer:
    def __init__(
        self,
        c: Collector,
        files: RepoFiles,
        variables: dict[str, str],
        rules: RuleCheck,
        combine: Callable[[Node, Node], Node],
        duplicates: Callable[[Sequence[Diagnostic]], None],
    ) -> None:
        self._c = c
        self._duplicates = duplicates
        self._files = files
        self._variables = variables
        self._rules = rules
        self._combine = combine
        self._count = 0

    def document(self, root: Map, chain: tuple[str, ...]) -> Map:
        entry = root.get("include")
        if entry is None:
            return root
        base: Node = Map((), root.loc)
        for path, loc in self._paths(entry, chain):
            if path in chain:
                self._c.error(loc, km.include_cycle(path))
                continue
            self._count += 1
            if self._count > MAX_INCLUDES:
                self._c.error(loc, km.TOO_MANY_INCLUDES)
                return without(root, "include")
            included = self._load(path, loc)
            if included is not None:
                base = self._combine(base, self.document(included, (*chain, path)))
        result = self._combine(base, without(root, "include"))
        assert isinstance(result, Map)
        return result

    def _paths(self, entry: Entry, chain: tuple[str, ...]) -> list[tuple[str, Loc]]:
        node = entry.value
        items = node.items if isinstance(node, Seq) else (node,)
        found: list[tuple[str, Loc]] = []
        for item in items:
            found.extend(self._item(item, chain))
        return found

    def _item(self, item: Node, chain: tuple[str, ...]) -> list[tuple[str, Loc]]:
        if isinstance(item, Scalar) and isinstance(item.value, str):
            if item.value.startswith(("http://", "https://")):
                self._c.error(item.loc, km.unsupported_include("remote", item.value))
                return []
            return self._expand_glob(item.value, item.loc, chain)
        if not isinstance(item, Map):
            self._c.error(
                item.loc, f"expected a path or {{local: PATH}} in 'include', found {describe(item)}"
            )
            return []
        fields.check_keys(self._c, item, "'include'", INCLUDE_KEYS)
        for kind in REMOTE_KINDS:
            if (remote := item.get(kind)) is not None:
                shown = remote.value.value if isinstance(remote.value, Scalar) else kind
                self._c.error(remote.key_loc, km.unsupported_include(kind, str(shown)))
                return []
        if (inputs := item.get("inputs")) is not None:
            self._c.error(
                inputs.key_loc, km.not_runnable("inputs", "'include'", km.NOT_RUNNABLE["inputs"])
            )
        local = item.get("local")
        if local is None:
            self._c.error(item.loc, "missing required key 'local' in 'include'")
            return []
        path = fields.string(self._c, local, "'include'")
        if path is None:
            return []
        rules = item.get("rules")
        if rules is not None and not self._rules(self._c, rules, f"the include of '{path}'"):
            return []
        return self._expand_glob(path, local.value.loc, chain)

    def _expand_glob(self, written: str, loc: Loc, chain: tuple[str, ...]) -> list[tuple[str, Loc]]:
        path = expand(written, self._variables).lstrip("/")
        if path.startswith("../") or "/../" in path:
            self._c.error(loc, km.include_outside(written))
            return []
        if "*" in path:
            # A wildcard never names the file that includes it (nor those above it).
            return [
                (name, loc)
                for name in wildcard_matching(self._files, path)
                if name.endswith(YAML_SUFFIXES) and name not in chain
            ]
        if not path.endswith(YAML_SUFFIXES):
            self._c.error(loc, km.include_not_yaml(path))
            return []
        return [(path, loc)]

    def _load(self, path: str, loc: Loc) -> Map | None:
        text = self._files.read(path)
        if text is None:
            self._c.error(loc, km.include_not_found(path))
            return None
        try:
            document = parse_document(text, path, stamp_file=True, limits=self._c.limits)
        except SpecError as error:
            self._c.diagnostics.extend(error.diagnostics)
            return None
        self._duplicates(document.duplicates)
        self._c.diagnostics.extend(document.invalid)
        return document.root
