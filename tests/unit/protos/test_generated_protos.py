"""The generated protobuf code is reproducible and the drift check catches drift."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def gen_protos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts/gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_code_matches_the_protos() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "generated protobuf code matches protos/\n"


def test_drift_is_reported_by_file(tmp_path: Path) -> None:
    gen = gen_protos()
    fresh = tmp_path / "fresh"
    gen.generate(fresh)
    current = tmp_path / "current"
    shutil.copytree(fresh, current)
    assert gen._compare(fresh, current) == []
    (current / "v1" / "worker_pb2.py").write_text("# edited by hand\n")
    (current / "v1" / "stale_pb2.py").write_text("")
    assert gen._compare(fresh, current) == ["v1/stale_pb2.py", "v1/worker_pb2.py"]
