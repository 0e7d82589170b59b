"""Where local state lives: ``$XXCI_HOME`` (default ``~/.xx-pipeline``)."""

from __future__ import annotations

import os
from pathlib import Path


def xxci_home() -> Path:
    return Path(os.environ.get("XXCI_HOME") or Path.home() / ".xx-pipeline").expanduser()


def local_db() -> Path:
    return xxci_home() / "local.db"


def reports_dir() -> Path:
    return xxci_home() / "reports"
