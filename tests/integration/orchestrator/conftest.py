"""Fixtures for the orchestrator scenarios: a started :class:`Cluster` per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.orchestrator.harness import Cluster

ClusterFactory = Callable[..., Awaitable[Cluster]]


@pytest.fixture
async def make_cluster(tmp_path: Path) -> AsyncIterator[ClusterFactory]:
    """``await make_cluster(**options)``: a started Cluster (see its options); every
    one is closed at teardown."""
    made: list[Cluster] = []

    async def make(**options: Any) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster-{len(made)}", **options)
        made.append(cluster)
        await cluster.start()
        return cluster

    yield make
    for cluster in made:
        await cluster.close()


@pytest.fixture
async def cluster(make_cluster: ClusterFactory) -> Cluster:
    """A started Cluster with the default options (a fake clock, `xxci server`'s
    settings, workers heartbeating every 0.2 s)."""
    return await make_cluster()
