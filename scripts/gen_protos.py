"""Generate the Python code for protos/ into src/xxci/common/pb (with .pyi stubs).

``python scripts/gen_protos.py`` writes the files; ``--check`` regenerates into a
temporary folder and exits 1, naming the files, when the checked-in code differs.
protoc names modules after the proto package (``xxci.v1``); the imports are rewritten
to ``xxci.common.pb.v1`` so the generated code lives inside the ``xxci`` package.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

BIN = Path(sys.executable).parent

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "src" / "xxci" / "common" / "pb"
WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"
"""google/protobuf/*.proto (Timestamp, ...), as grpc_tools ships them."""
_IMPORT = re.compile(r"^from xxci\.v1 import", re.MULTILINE)


def generate(out: Path) -> None:
    with tempfile.TemporaryDirectory() as raw:
        files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
        args = [
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"-I{WELL_KNOWN}",
            f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
            f"--python_out={raw}",
            f"--mypy_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_grpc_out={raw}",
            *files,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        src = Path(raw) / "xxci" / "v1"
        dest = out / "v1"
        dest.mkdir(parents=True, exist_ok=True)
        for path in sorted(src.iterdir()):
            text = _IMPORT.sub("from xxci.common.pb.v1 import", path.read_text())
            (dest / path.name).write_text(text)
        (dest / "__init__.py").write_text("")
        (out / "__init__.py").write_text('"""Generated protobuf code. Run `make protos`."""\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if checked-in code drifted")
    args = parser.parse_args()
    if not args.check:
        if TARGET.exists():
            shutil.rmtree(TARGET)
        generate(TARGET)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "pb"
        generate(fresh)
        drift = _compare(fresh, TARGET)
    if drift:
        print("generated protobuf code is out of date; run `make protos`:", file=sys.stderr)
        for name in drift:
            print(f"  {name}", file=sys.stderr)
        return 1
    print("generated protobuf code matches protos/")
    return 0


def _compare(fresh: Path, current: Path) -> list[str]:
    names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    names |= {
        p.relative_to(current)
        for p in current.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    drift = []
    for name in sorted(names):
        a, b = fresh / name, current / name
        if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
            drift.append(str(name))
    return drift


if __name__ == "__main__":
    raise SystemExit(main())
