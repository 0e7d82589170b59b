"""The Docker executor: each job attempt in a container of a Docker engine.

- :mod:`~xxci.worker.docker.executor`: the :class:`DockerExecutor` entry point.
- :mod:`~xxci.worker.docker.supervisor`: drives one container, image to removal.
- :mod:`~xxci.worker.docker.container_config`: what the container is made of.
- :mod:`~xxci.worker.docker.script`: the job script and its step markers.
- :mod:`~xxci.worker.docker.transcript` and :mod:`~xxci.worker.docker.output`: the
  output, in command order, with step reports.
- :mod:`~xxci.worker.docker.artifacts` and
  :mod:`~xxci.worker.docker.artifact_collection`: which files are artifacts, and
  taking them out.
- :mod:`~xxci.worker.docker.engine`: the few engine calls, over aiodocker.
"""
