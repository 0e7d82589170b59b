"""The worker: holds a stream to the orchestrator and runs the jobs it assigns.

Three layers, outermost first; each imports only the ones below it:

- :mod:`xxci.worker.connection`: the connection to the orchestrator (the stream and
  its reconnects, the outboxes keeping attempt messages until acknowledged, and
  :mod:`~xxci.worker.connection.wire`, the one place protobuf is converted).
- :mod:`xxci.worker.attempt`: one attempt: fetch its workspace, run it, collect its
  artifacts, report it, as plain values.
- :mod:`xxci.worker.executor`, the executor contract, and :mod:`xxci.worker.docker`,
  the executor that runs a job in a Docker container.

``tests/unit/test_layers.py`` holds these boundaries.
"""
