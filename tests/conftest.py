"""Fixtures shared by every test folder.

Docker: tests marked ``docker`` use the ``docker_image`` fixture. It FAILS (never
skips) when the engine does not answer or the local test image is missing: ``make
test`` starts both (``make docker``), so either means a broken setup, not a reason
to quietly test less.

Temp files: the session has a temp folder of its own and fails if the tests leave
anything in it (tests/temp_guard.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from tests.postgres import PostgresCluster, PostgresUnavailable
from xxci.worker.docker.engine import DockerEngine, DockerError

pytest_plugins = ["tests.temp_guard"]

DOCKER_TEST_IMAGE = "xxci-test/busybox:latest"


async def _docker_problem(image: str) -> str | None:
    try:
        async with DockerEngine() as engine:
            await engine.ping()
            if await engine.image(image) is None:
                return f"the test image {image} is missing"
    except DockerError as exc:
        return f"no Docker engine answers ({exc})"
    return None


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The locally built test image (busybox), on an engine that answers."""
    problem = asyncio.run(_docker_problem(DOCKER_TEST_IMAGE))
    if problem is not None:
        pytest.fail(
            f"{problem}. Run `make docker` (scripts/ensure-docker.sh and "
            "scripts/build-test-image.sh) before the Docker tests.",
            pytrace=False,
        )
    return DOCKER_TEST_IMAGE


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole session (see tests/postgres.py).

    Skipped when no PostgreSQL can be started here; with ``XXCI_REQUIRE_POSTGRES=1``
    (``make test`` sets it, after installing Debian's postgresql) that fails instead.
    """
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as err:
        if os.environ.get("XXCI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here and cannot start: {err}", pytrace=False)
        pytest.skip(f"no PostgreSQL can be started: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new, empty database of the session's cluster, dropped after the test."""
    url = postgres_cluster.new_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)
