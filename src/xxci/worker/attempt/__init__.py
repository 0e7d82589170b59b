"""One job attempt on a worker: fetch its workspace, run it, collect its artifacts,
report it.

- :mod:`~xxci.worker.attempt.runner`: an attempt from start to end.
- :mod:`~xxci.worker.attempt.messages`: what an attempt reports, as plain values.
- :mod:`~xxci.worker.attempt.log_batcher`: output coalesced into chunks.
- :mod:`~xxci.worker.attempt.blob_store`: the blob store an attempt fetches from and
  uploads to.

Nothing here knows gRPC or protobuf: the connection layer
(:mod:`xxci.worker.connection`) hands an attempt its assignment and a blob store, and
converts its messages for the wire.
"""
