"""``python -m tests.chaos``: the chaos test's long form (``make chaos``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.chaos.driver import Chaos, Options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --pipelines runs")
    parser.add_argument("--pipelines", type=int, default=20, help="runs submitted per round")
    parser.add_argument("--fault-seconds", type=float, default=60.0, help="faults per round")
    parser.add_argument("--seed", type=int, help="replay the choices of an earlier session")
    parser.add_argument("--keep", type=Path, help="keep data and logs in this folder")
    args = parser.parse_args()
    options = Options(
        rounds=args.rounds,
        pipelines=args.pipelines,
        fault_seconds=args.fault_seconds,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory(prefix="xxci-chaos-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        chaos = Chaos(folder, options)
        try:
            asyncio.run(chaos.run())
        except AssertionError as err:
            print(f"chaos FAILED (seed {chaos.seed}): {err}\n{chaos.logs()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
