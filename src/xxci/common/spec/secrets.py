"""What a pipeline asks of the secret store, and which variables it wants masked.

A job asks for secrets by name with ``secrets:`` (on the job or in ``default``), a
list whose entries are a name or ``{name, variable, type}``::

    secrets:
      - DEPLOY_TOKEN                          # $DEPLOY_TOKEN holds the value
      - {name: kube_config, variable: KUBECONFIG, type: file}   # $KUBECONFIG: a path

Only the names are in the pipeline; the values are given to the attempt by the
orchestrator. GitLab's own ``secrets:`` (a mapping read from Vault and the like) stays
refused. A variable declared ``{value: ..., masked: true}`` anywhere in the file has
its value masked in job logs, as a secret's is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from xxci.common.spec import fields, messages
from xxci.common.spec.fields import Collector
from xxci.common.spec.secret_requests import SecretRequest, SecretType
from xxci.common.spec.tree import Entry, Map, Node, Scalar, Seq, describe

__all__ = [
    "SECRET_NAME",
    "SecretRequest",
    "SecretType",
    "masked_names",
    "read_secrets",
]

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
"""A secret's name: an environment variable name, so it can be its variable's too."""

_GITLAB_FORM = (
    "it reads an external secret store (Vault, Azure, GCP); xxci's secrets are a list"
    " of names from 'xxci secret set'"
)
_ENTRY_KEYS = ("name", "variable", "type")


def read_secrets(c: Collector, entry: Entry, where: str) -> tuple[SecretRequest, ...] | None:
    """``secrets:`` of a job or ``default``: a list of names or ``{name, variable,
    type}``; GitLab's mapping form is an error saying what xxci reads instead."""
    node = entry.value
    if isinstance(node, Map):
        c.error(entry.key_loc, f"'secrets' in {where} cannot be run by xxci: {_GITLAB_FORM}")
        return None
    if not isinstance(node, Seq):
        fields.wrong_type(c, entry, where, "a list of secret names")
        return None
    found: list[SecretRequest] = []
    ok = True
    for item in node.items:
        request = _request(c, item, where)
        ok = ok and request is not None
        if request is not None:
            found.append(request)
    variables = [r.variable for r in found]
    for variable in {v for v in variables if variables.count(v) > 1}:
        c.error(node.loc, f"'secrets' of {where} gives variable '{variable}' twice")
        ok = False
    return tuple(found) if ok else None


def _request(c: Collector, node: Node, where: str) -> SecretRequest | None:
    if isinstance(node, Scalar):
        name = _name(c, Entry("secrets", node.loc, node), where)
        return None if name is None else SecretRequest(name, name)
    if not isinstance(node, Map):
        expected = "a secret name or {name, variable, type}"
        c.error(node.loc, messages.wrong_type("secrets", where, expected, describe(node)))
        return None
    of = f"a secret of {where}"
    fields.check_keys(c, node, of, _ENTRY_KEYS)
    name_entry = node.get("name")
    if name_entry is None:
        c.error(node.loc, messages.missing_key("name", of))
        return None
    name = _name(c, name_entry, of)
    variable_entry = node.get("variable")
    variable = _name(c, variable_entry, of) if variable_entry is not None else name
    kind = SecretType.VARIABLE
    if (type_entry := node.get("type")) is not None:
        text = fields.string(c, type_entry, of)
        if text is None:
            return None
        if text not in [t.value for t in SecretType]:
            c.error(
                type_entry.value.loc, f"invalid 'type' '{text}' in {of}; expected variable or file"
            )
            return None
        kind = SecretType(text)
    if name is None or variable is None:
        return None
    return SecretRequest(name, variable, kind)


def _name(c: Collector, entry: Entry, where: str) -> str | None:
    text = fields.string(c, entry, where)
    if text is None:
        return None
    if not SECRET_NAME.fullmatch(text):
        c.error(
            entry.value.loc,
            f"invalid secret name '{text}' in {where}: letters, digits and _, not first a digit",
        )
        return None
    return text


def masked_names(root: Map) -> tuple[str, ...]:
    """Every variable the file declares ``masked: true`` (top level, ``default``, jobs,
    services), sorted: masked wherever it is set."""
    return tuple(sorted(set(_masked(root))))


def _masked(node: Node) -> Iterator[str]:
    if isinstance(node, Seq):
        for item in node.items:
            yield from _masked(item)
        return
    if not isinstance(node, Map):
        return
    for entry in node:
        if entry.key == "variables" and isinstance(entry.value, Map):
            for variable in entry.value:
                value = variable.value
                if isinstance(value, Map) and _is_true(value.get("masked")):
                    yield str(variable.key)
        yield from _masked(entry.value)


def _is_true(entry: Entry | None) -> bool:
    return entry is not None and isinstance(entry.value, Scalar) and entry.value.value is True
