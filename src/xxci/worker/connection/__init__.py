"""The worker's connection to the orchestrator: the stream, the outboxes, the wire.

- :mod:`~xxci.worker.connection.agent`: :class:`WorkerAgent`, reconnecting for ever.
- :mod:`~xxci.worker.connection.session`: one stream, Hello to its end.
- :mod:`~xxci.worker.connection.attempts`: the attempts the worker holds.
- :mod:`~xxci.worker.connection.stopping`: stopping, with or without a drain.
- :mod:`~xxci.worker.connection.outbox`: attempt messages kept until acknowledged.
- :mod:`~xxci.worker.connection.protocol`: the stream's own messages, as plain values.
- :mod:`~xxci.worker.connection.wire`: protobuf <-> plain values, the only converter.
- :mod:`~xxci.worker.connection.blob_client`: the blob store over gRPC.
- :mod:`~xxci.worker.connection.concurrency`: ``race`` and reconnect backoff.

Only ``wire``, ``session`` and ``blob_client`` touch protobuf; gRPC, only they and
``agent``, which opens the channel.
"""
