"""Debian's Chromium, driven by Playwright: nothing is downloaded at test time.

The browser is the system's ``/usr/bin/chromium`` (``scripts/ensure-chromium.sh``
installs it; ``make test`` runs that), launched headless with the flags that keep
it off the network, on a fresh temporary profile. Screenshots go under
``test-output/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = os.environ.get("XXCI_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Playwright) -> Browser:
    """Chromium on a fresh profile; FAILS (never skips) when it is not installed."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing. Run `scripts/ensure-chromium.sh` (make test does)"
            " before the browser tests.",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


def docker_exec(run_id: str, job: str, *command: str) -> None:
    """Run ``command`` inside the container of ``job`` (a job waiting on a file is
    released this way: event-driven, no sleeps)."""
    found = subprocess.run(
        [
            "docker", "ps", "-q",
            "--filter", f"label=xxci.run={run_id}",
            "--filter", f"label=xxci.job={job}",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ids = found.stdout.split()
    assert len(ids) == 1, f"one container for {job} of {run_id}, found {ids}"
    subprocess.run(["docker", "exec", ids[0], *command], check=True, timeout=30)
