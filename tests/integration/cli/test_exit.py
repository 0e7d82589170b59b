"""The entry point leaves the process's objects to the exit rather than collecting
them all on the way out (the last collection cost more than the imports), and holds
the collector off while a command is imported, not while it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

PROBE = """
import gc, sys
from xxci.cli.main import main
sys.argv = ["xxci", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    code = end.code
else:
    code = 0
sys.stderr.write(f"\\ncode={code} frozen={gc.get_freeze_count() > 0}\\n")
"""


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), (["no-such-command"], 2)])
def test_main_freezes_what_it_leaves_and_keeps_the_exit_code(args: list[str], code: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    assert done.stderr.strip().splitlines()[-1] == f"code={code} frozen=True"


def test_the_collector_is_on_once_the_command_is_imported(tmp_path: Path) -> None:
    probe = PROBE + "sys.stderr.write(f'collector={gc.isenabled()}\\n')\n"
    done = subprocess.run(
        [sys.executable, "-c", probe, "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr.strip().splitlines()[-1] == "collector=True"
    assert "frozen=True" in done.stderr
