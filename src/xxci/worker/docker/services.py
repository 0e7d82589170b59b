"""An attempt's services: their network, their containers, their logs, their end.

:class:`Services` starts what :mod:`xxci.worker.docker.service_config` describes:
the network, then each service (its image pulled if absent). A service that stops
before the job starts (within ``settle_seconds`` of its start, or before the others
are up) fails the job with ``service_failure`` and its last log lines. After the job,
each service's log goes to the listener, kept beside the job's. :meth:`Services.remove`
removes the containers and the network whatever happened; what a killed worker leaves
is removed by the orphan sweep of the next worker on the host (the same labels).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from xxci.common.status import FailureReason, JobStatus
from xxci.worker.docker.container_config import attempt_labels
from xxci.worker.docker.engine import Container, DockerEngine, DockerError, ImagePullFailed
from xxci.worker.docker.output import SerialListener
from xxci.worker.docker.service_config import network_name, service_config, service_names
from xxci.worker.executor import Assignment, ExecutionResult

__all__ = ["FAILURE_LOG_LINES", "LOG_LINES", "Services"]

log = logging.getLogger(__name__)

FAILURE_LOG_LINES = 20
"""How many of a failed service's last lines its failure message quotes."""
LOG_LINES = 10_000
"""How many of a service's last lines are kept as its log."""


@dataclass
class _Running:
    name: str
    image: str
    container: Container


class Services:
    """The services of one attempt; see the module docstring."""

    def __init__(
        self,
        engine: DockerEngine,
        job: Assignment,
        nonce: str,
        host: str,
        pid: int,
        listener: SerialListener,
        settle_seconds: float,
    ) -> None:
        self._engine = engine
        self._job = job
        self._nonce = nonce
        self._host = host
        self._pid = pid
        self._listener = listener
        self._settle = settle_seconds
        self.network: str | None = None
        self._network_id: str | None = None
        self._running: list[_Running] = []

    async def start(self, cancel: asyncio.Event) -> ExecutionResult | None:
        """Start the network and every service; a result that ends the attempt (a
        service that could not start, a cancel), or None when all are up."""
        services = self._job.services
        if not services:
            return None
        name = network_name(self._job, self._nonce)
        labels = attempt_labels(self._job, self._host, self._pid)
        self._network_id = await self._engine.create_network(name, labels)
        self.network = name
        for service, service_name in zip(services, service_names(services), strict=True):
            if cancel.is_set():
                return None
            try:
                await self._pull(service.name)
            except ImagePullFailed as exc:
                return _failure(f"service '{service_name}': {exc}")
            config = service_config(self._job, service, service_name, name, self._host, self._pid)
            container = await self._engine.create_container(config, name=None)
            self._running.append(_Running(service_name, service.name, container))
            try:
                await container.start()
            except DockerError as exc:
                return _failure(f"service '{service_name}' ({service.name}) did not start: {exc}")
            await self._listener.system(f"service '{service_name}' started ({service.name})")
        return await self._settled()

    async def _pull(self, image: str) -> None:
        if await self._engine.image(image) is None:
            await self._listener.system(f"pulling service image {image}")
            await self._engine.pull(image)

    async def _settled(self) -> ExecutionResult | None:
        """Watch the services for ``settle_seconds``: the first to stop fails the job."""
        waits = {asyncio.ensure_future(r.container.wait()): r for r in self._running}
        try:
            done, _ = await asyncio.wait(
                waits, timeout=self._settle, return_when=asyncio.FIRST_COMPLETED
            )
            for future in done:
                return await self._stopped(waits[future], future.result())
            for running in self._running:  # stopped between the waits' start and now
                code = await running.container.exit_code()
                if code is not None:
                    return await self._stopped(running, code)
            return None
        finally:
            for future in waits:
                future.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _stopped(self, running: _Running, code: int) -> ExecutionResult:
        tail = (await running.container.logs(FAILURE_LOG_LINES)).decode("utf-8", "replace")
        lines = tail.rstrip("\n")
        message = (
            f"service '{running.name}' ({running.image}) exited with code {code}"
            " before the job started"
        )
        await self._listener.system(message)
        if lines:
            await self._listener.system(f"last lines of service '{running.name}':\n{lines}")
            message += f"; its last lines:\n{lines}"
        return _failure(message)

    async def keep_logs(self) -> None:
        """Send each service's log to the listener (kept beside the job's log)."""
        for running in self._running:
            try:
                data = await running.container.logs(LOG_LINES)
            except DockerError as exc:
                log.warning("could not read the log of service %s: %s", running.name, exc)
                continue
            if data:
                await self._listener.service_output(running.name, data)

    async def remove(self) -> None:
        """Remove the service containers, then the network; never raises."""
        for running in self._running:
            try:
                await running.container.remove()
            except DockerError:
                log.exception("could not remove service container %s", running.container.id)
        self._running.clear()
        if self._network_id is not None:
            try:
                await self._engine.remove_network(self._network_id)
            except DockerError:
                log.exception("could not remove network %s", self.network)
            self._network_id = None


def _failure(message: str) -> ExecutionResult:
    return ExecutionResult(
        JobStatus.FAILED, failure_reason=FailureReason.SERVICE_FAILURE, message=message
    )
