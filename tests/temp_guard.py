"""The suite leaves nothing in the temp folder.

At start the session gets a temp folder of its own (``TMPDIR``, inherited by every
process a test starts). After each test, what appeared in it since the test began
(besides pytest's own ``pytest-of-*``) is noted against that test; at the end, if
anything is left, the session fails with the list: what was left, and after which
test it was first seen. The folder is then removed either way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_OWN = "pytest-of-"


class TempGuard:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="xxci-tests-"))
        # As /tmp: the throwaway PostgreSQL runs as its own user and makes its folder here.
        self.root.chmod(0o1777)
        self._before: dict[str, str] = {}
        self.first_seen: dict[str, str] = {}
        """Leftover entry name -> the test after which it was first seen."""

    def entries(self) -> set[str]:
        try:
            return {n for n in os.listdir(self.root) if not n.startswith(_OWN)}
        except FileNotFoundError:
            return set()

    def leftovers(self) -> list[str]:
        return sorted(self.entries())


_GUARD: TempGuard | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _GUARD
    if _GUARD is not None or hasattr(config, "workerinput"):
        return
    _GUARD = TempGuard()
    os.environ["TMPDIR"] = str(_GUARD.root)
    tempfile.tempdir = None  # forget the folder tempfile chose before


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if _GUARD is None:
        return (yield)
    before = _GUARD.entries()
    try:
        return (yield)
    finally:
        for name in _GUARD.entries() - before:
            _GUARD.first_seen.setdefault(name, item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _GUARD is None:
        return
    left = _GUARD.leftovers()
    if left:
        lines = [f"  {name} (first seen after {_GUARD.first_seen.get(name, '?')})" for name in left]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = f"the tests left {len(left)} entries in the temp folder:\n" + "\n".join(lines)
        if reporter is not None:
            reporter.write_line("")
            reporter.write_sep("=", "left in the temp folder", red=True)
            reporter.write_line(text, red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    global _GUARD
    if _GUARD is not None:
        shutil.rmtree(_GUARD.root, ignore_errors=True)
        _GUARD = None
