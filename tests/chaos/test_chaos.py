"""The chaos test's short form, run with every ``make test``: one round of 20 pipelines
on a server and 3 workers (real processes) while the server and the workers are
killed and restarted and their connections cut, for about half a minute.

``XXCI_CHAOS_SEED=N`` replays the choices of an earlier run (its seed is printed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.driver import Chaos, Options

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


async def test_every_run_ends_as_its_scripts_dictate_whatever_is_killed(
    tmp_path: Path, docker_image: str
) -> None:
    seed = os.environ.get("XXCI_CHAOS_SEED")
    chaos = Chaos(tmp_path, Options(fault_seconds=30, seed=int(seed) if seed else None))
    try:
        summary = await chaos.run()
    except AssertionError as err:
        raise AssertionError(f"{err}\n(seed {chaos.seed})\n{chaos.logs()}") from None
    assert summary.runs == 20
    assert summary.faults.total() >= 5, summary.line()
