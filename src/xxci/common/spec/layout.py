"""The parts of a pipeline file, as each format lays them out.

A :class:`Layout` tells :mod:`xxci.common.spec.validate` where a format keeps its
jobs, its templates and its header (name, stages, defaults, ``workflow``);
:mod:`course` and :mod:`gitlab` define one each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xxci.common.spec.assemble import Globals
from xxci.common.spec.context import RunContext
from xxci.common.spec.fields import Collector
from xxci.common.spec.graph import StageList
from xxci.common.spec.templates import merge
from xxci.common.spec.tree import Entry, Loc, Map, Node

__all__ = ["Header", "JobSource", "Layout"]


@dataclass
class JobSource:
    """A job as found in the file, before anything is read from it."""

    where: str
    anchor: Loc
    node: Map
    name: str | None = None
    name_loc: Loc = field(default_factory=Loc)


@dataclass
class Layout:
    """What a format says about the parts of its file (see :mod:`course`, :mod:`gitlab`)."""

    kind: str
    jobs: Callable[[Collector, Map], tuple[list[JobSource], dict[str, Entry], bool]]
    """The jobs, every entry ``extends`` may name, and whether all jobs could be read."""
    header: Callable[[Collector, Map, RunContext, dict[str, str]], Header]
    combine: Callable[[Node, Node], Node] = merge
    extra_job_keys: tuple[str, ...] = ()
    default_stage: str = "test"


@dataclass
class Header:
    """The file's own name, stages, defaults and ``workflow`` outcome."""

    name: str | None
    stages: StageList | None
    globals: Globals
    not_run: str = ""
