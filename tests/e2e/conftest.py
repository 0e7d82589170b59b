"""Fixtures of the end-to-end tests (helpers live in cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, free_port


@pytest.fixture
def cluster(tmp_path: Path, docker_image: str) -> Iterator[Cluster]:
    """A server and two workers (capacity 2 each)."""
    c = Cluster(tmp=tmp_path, port=free_port(), data_dir=tmp_path / "data")
    c.start_server()
    c.start_worker("w1")
    c.start_worker("w2")
    try:
        c.wait_workers(2)
        yield c
    finally:
        c.stop()
