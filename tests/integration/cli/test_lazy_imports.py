"""Commands that need no orchestrator start without its libraries: ``xxci --version``,
``check`` and ``dry-run`` import neither gRPC nor the SQLite or Docker clients.

Each command runs in a fresh interpreter (the real entry point), which then reports
what it had imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cli.conftest import PIPELINE

HEAVY = ("grpc", "aiosqlite", "aiodocker")

PROBE = f"""
import json, sys
from xxci.cli.main import main
sys.argv = ["xxci", *sys.argv[1:]]
try:
    main()
except SystemExit as end:
    code = end.code
else:
    code = 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)!r})
sys.stderr.write("\\n" + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
"""


def probe(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run ``xxci ARGS``; its exit code and the heavy modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".pipelines").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".pipelines/main.yml").write_text(PIPELINE.format(name="main"))
    return root


@pytest.mark.parametrize(
    "args", [["--version"], ["check"], ["dry-run"], ["dry-run", "--format", "json"]]
)
def test_commands_without_an_orchestrator_import_none_of_its_libraries(
    project: Path, args: list[str]
) -> None:
    assert probe(args, project) == (0, [])


def test_the_probe_sees_a_command_that_needs_them(project: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "XXCI_HOME": str(tmp_path / "home")}
    code, heavy = probe(["report", "--local"], project, env)
    assert code == 1  # no local runs yet
    assert "grpc" in heavy
