"""A secret a job asks for, as the pipeline model holds it (see :mod:`.secrets`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SecretRequest", "SecretType"]


class SecretType(enum.StrEnum):
    VARIABLE = "variable"
    """The variable holds the value."""
    FILE = "file"
    """The variable holds the path of a file with the value (GitLab's file variables)."""


@dataclass(frozen=True)
class SecretRequest:
    """One secret a job is given: from the store's ``name``, as ``variable``."""

    name: str
    variable: str
    type: SecretType = SecretType.VARIABLE

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "variable": self.variable, "type": self.type.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecretRequest:
        name = str(data["name"])
        return cls(
            name=name,
            variable=str(data.get("variable") or name),
            type=SecretType(data.get("type", SecretType.VARIABLE.value)),
        )
