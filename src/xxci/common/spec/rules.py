"""``rules``, ``only``/``except`` and ``workflow: rules``: read, then decided for a run.

Reading checks every rule whatever the run; :func:`decide_rules` and
:func:`decide_only_except` then say whether a job is in a run, GitLab's way:

- ``rules``: the first rule whose conditions all hold decides (``if``, ``changes``,
  ``exists``; a rule without conditions always holds). Its ``when`` (default: the
  job's own ``when``) says how the job runs, ``never`` leaves it out, and its
  ``allow_failure``, ``variables``, ``needs`` and ``start_in`` replace the job's. No
  matching rule leaves the job out.
- ``only`` includes a job when each of its keys (``refs``, ``variables``,
  ``changes``) has a condition that holds; ``except`` leaves it out when each of its
  keys does. Without rules, ``only`` and ``except`` a job runs for branches and tags.
- ``changes`` holds when the commit changed a matching file, and always when the commit
  has no parent or the run is not for a push.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from xxci.common.spec import fields, messages
from xxci.common.spec import keyword_messages as km
from xxci.common.spec.context import RunContext
from xxci.common.spec.expressions import Expression, ExpressionError, compile_pattern, parse
from xxci.common.spec.fields import Collector
from xxci.common.spec.files import glob_match, matching
from xxci.common.spec.model import AllowFailure
from xxci.common.spec.needs import NEVER, NeedSpec, read_needs, read_start_in, read_when
from xxci.common.spec.tree import Entry, Loc, Map, Scalar, Seq, describe
from xxci.common.spec.variables import expand

__all__ = [
    "Decision",
    "OnlyExcept",
    "Rule",
    "decide_only_except",
    "decide_rules",
    "read_only_except",
    "read_rules",
]

RULE_KEYS = (
    "if",
    "changes",
    "exists",
    "when",
    "allow_failure",
    "variables",
    "needs",
    "start_in",
    "interruptible",
)
WORKFLOW_RULE_KEYS = ("if", "changes", "exists", "when", "variables", "auto_cancel")
ONLY_KEYS = ("refs", "variables", "changes", "kubernetes")
REF_KEYWORDS: dict[str, Callable[[RunContext], bool]] = {
    "branches": lambda ctx: bool(ctx.branch) and not ctx.tag,
    "tags": lambda ctx: bool(ctx.tag),
    "merge_requests": lambda ctx: ctx.source == "merge_request_event",
    "pushes": lambda ctx: ctx.source == "push",
    "web": lambda ctx: ctx.source == "web",
    "schedules": lambda ctx: ctx.source == "schedule",
    "triggers": lambda ctx: ctx.source == "trigger",
    "api": lambda ctx: ctx.source == "api",
    "external": lambda ctx: ctx.source == "external",
    "pipelines": lambda ctx: ctx.source in ("pipeline", "parent_pipeline"),
    "chat": lambda ctx: ctx.source == "chat",
    "external_pull_requests": lambda ctx: ctx.source == "external_pull_request_event",
}


@dataclass(frozen=True)
class Rule:
    loc: Loc
    number: int
    condition: Expression | None = None
    changes: tuple[str, ...] | None = None
    exists: tuple[str, ...] | None = None
    when: str | None = None
    allow_failure: AllowFailure | None = None
    variables: Mapping[str, str] | None = None
    needs: tuple[NeedSpec, ...] | None = None
    start_in: int | None = None


@dataclass(frozen=True)
class OnlyExcept:
    loc: Loc
    refs: tuple[str, ...] | None = None
    variables: tuple[Expression, ...] | None = None
    changes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Decision:
    """Whether a job (or the pipeline) is in the run, and what the matching rule set."""

    included: bool
    reason: str
    rule: Rule | None = None


def read_rules(
    c: Collector, entry: Entry, where: str, *, workflow: bool = False
) -> tuple[Rule, ...] | None:
    node = entry.value
    if not isinstance(node, Seq):
        fields.wrong_type(c, entry, where, "a list of rules")
        return None
    rules: list[Rule] = []
    ok = True
    for number, item in enumerate(fields.flatten(node).items, start=1):
        if not isinstance(item, Map):
            c.error(
                item.loc, messages.wrong_type("rules", where, "a rule (a mapping)", describe(item))
            )
            ok = False
            continue
        rule = _rule(c, item, number, f"rule {number} of {where}", workflow)
        ok = ok and rule is not None
        if rule is not None:
            rules.append(rule)
    return tuple(rules) if ok else None


def _rule(c: Collector, node: Map, number: int, where: str, workflow: bool) -> Rule | None:
    fields.check_keys(c, node, where, WORKFLOW_RULE_KEYS if workflow else RULE_KEYS)
    values: dict[str, object] = {}
    ok = True
    for key, reader in (
        ("if", _condition),
        ("changes", _changes),
        ("exists", _exists),
        (
            "when",
            (lambda c, e, w: read_when(c, e, w, ("always", NEVER))) if workflow else read_when,
        ),
        ("allow_failure", fields.allow_failure),
        ("variables", fields.variables),
        ("needs", read_needs),
        ("start_in", read_start_in),
    ):
        entry = node.get(key)
        if entry is None:
            continue
        value = reader(c, entry, where)
        ok = ok and value is not None
        values[key] = value
    if not ok:
        return None
    return Rule(
        node.loc,
        number,
        condition=values.get("if"),  # type: ignore[arg-type]
        changes=values.get("changes"),  # type: ignore[arg-type]
        exists=values.get("exists"),  # type: ignore[arg-type]
        when=values.get("when"),  # type: ignore[arg-type]
        allow_failure=values.get("allow_failure"),  # type: ignore[arg-type]
        variables=values.get("variables"),  # type: ignore[arg-type]
        needs=values.get("needs"),  # type: ignore[arg-type]
        start_in=values.get("start_in"),  # type: ignore[arg-type]
    )


def _condition(c: Collector, entry: Entry, where: str) -> Expression | None:
    text = fields.string(c, entry, where)
    if text is None:
        return None
    try:
        return parse(text)
    except ExpressionError as error:
        c.error(entry.value.loc, km.invalid_expression(where, str(error)))
        return None


def _changes(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    node = entry.value
    if isinstance(node, Map):
        of = f"'changes' of {where}"
        fields.check_keys(c, node, of, ("paths", "compare_to"))
        if (compare := node.get("compare_to")) is not None:
            c.error(
                compare.key_loc,
                km.not_runnable("compare_to", of, "only the commit's parent is compared"),
            )
            return None
        paths = node.get("paths")
        if paths is None:
            c.error(node.loc, messages.missing_key("paths", of))
            return None
        return fields.strings(c, paths, of)
    return fields.strings(c, entry, where)


def _exists(c: Collector, entry: Entry, where: str) -> tuple[str, ...] | None:
    node = entry.value
    if isinstance(node, Map):
        of = f"'exists' of {where}"
        fields.check_keys(c, node, of, ("paths", "project", "ref"))
        if (project := node.get("project")) is not None:
            c.error(
                project.key_loc,
                km.not_runnable("project", of, "only this repository's files are known"),
            )
            return None
        paths = node.get("paths")
        if paths is None:
            c.error(node.loc, messages.missing_key("paths", of))
            return None
        return fields.strings(c, paths, of)
    return fields.strings(c, entry, where)


def read_only_except(c: Collector, entry: Entry, where: str) -> OnlyExcept | None:
    node = entry.value
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return OnlyExcept(node.loc, refs=(node.value,))
    if isinstance(node, Seq):
        refs = fields.strings(c, entry, where)
        return None if refs is None else OnlyExcept(node.loc, refs=refs)
    if not isinstance(node, Map):
        fields.wrong_type(c, entry, where, "a list of refs or {refs, variables, changes}")
        return None
    of = f"'{entry.name}' of {where}"
    fields.check_keys(c, node, of, ONLY_KEYS)
    if (kubernetes := node.get("kubernetes")) is not None:
        c.error(
            kubernetes.key_loc, km.not_runnable("kubernetes", of, "there is no cluster integration")
        )
        return None
    refs = fields.strings(c, e, of) if (e := node.get("refs")) else None
    changes = _changes(c, e, of) if (e := node.get("changes")) else None
    expressions: list[Expression] | None = None
    if (e := node.get("variables")) is not None:
        texts = fields.strings(c, e, of)
        expressions = []
        for text in texts or ():
            try:
                expressions.append(parse(text))
            except ExpressionError as error:
                c.error(e.value.loc, km.invalid_expression(of, str(error)))
                return None
    for ref in refs or ():
        if ref.startswith("/") and ref.endswith("/"):
            try:
                compile_pattern(ref)
            except ExpressionError as error:
                c.error(node.loc, km.invalid_regex("refs", of, str(error)))
                return None
    return OnlyExcept(node.loc, refs, None if expressions is None else tuple(expressions), changes)


# --- deciding -------------------------------------------------------------------------


def decide_rules(
    rules: tuple[Rule, ...], variables: Mapping[str, str], context: RunContext
) -> Decision:
    """The first matching rule's decision; no match leaves the job out."""
    for rule in rules:
        if _holds(rule, variables, context):
            line = f"rule {rule.number} (line {rule.loc.line})"
            if rule.when == NEVER:
                return Decision(False, f"{line} says when: never", rule)
            return Decision(True, f"{line} matched", rule)
    return Decision(False, "no rule matched")


def _holds(rule: Rule, variables: Mapping[str, str], context: RunContext) -> bool:
    if rule.condition is not None and not rule.condition.evaluate(variables):
        return False
    if rule.changes is not None and not changed(rule.changes, variables, context):
        return False
    return rule.exists is None or exists(rule.exists, variables, context)


def changed(patterns: tuple[str, ...], variables: Mapping[str, str], context: RunContext) -> bool:
    if context.changed_files is None or context.source not in ("push", "merge_request_event"):
        return True
    expanded = [expand(p, variables) for p in patterns]
    return any(glob_match(f, p) for f in context.changed_files for p in expanded)


def exists(patterns: tuple[str, ...], variables: Mapping[str, str], context: RunContext) -> bool:
    return any(matching(context.files, expand(p, variables)) for p in patterns)


def decide_only_except(
    only: OnlyExcept | None,
    except_: OnlyExcept | None,
    variables: Mapping[str, str],
    context: RunContext,
) -> Decision:
    if only is None:
        only = OnlyExcept(Loc(), refs=("branches", "tags"))
    matched = _matches(only, variables, context)
    if not all(matched.values()):
        failed = ", ".join(key for key, ok in matched.items() if not ok)
        return Decision(False, f"only (line {only.loc.line}): no {failed} condition holds")
    if except_ is not None:
        hits = _matches(except_, variables, context)
        if hits and all(hits.values()):
            return Decision(False, f"except (line {except_.loc.line}): {', '.join(hits)} match")
    return Decision(True, "")


def _matches(
    spec: OnlyExcept, variables: Mapping[str, str], context: RunContext
) -> dict[str, bool]:
    result: dict[str, bool] = {}
    if spec.refs is not None:
        result["refs"] = any(_ref_matches(ref, context) for ref in spec.refs)
    if spec.variables is not None:
        result["variables"] = any(e.evaluate(variables) for e in spec.variables)
    if spec.changes is not None:
        result["changes"] = changed(spec.changes, variables, context)
    return result


def _ref_matches(ref: str, context: RunContext) -> bool:
    keyword = REF_KEYWORDS.get(ref)
    if keyword is not None:
        return keyword(context)
    name, _, project = ref.partition("@")
    if project and context.project and project != context.project:
        return False
    if len(name) > 1 and name.startswith("/") and name.rstrip("imsx").endswith("/"):
        try:
            return compile_pattern(name).search(context.ref) is not None
        except ExpressionError:
            return False
    return name == context.ref
