"""How a command reaches its orchestrator: the one API (:mod:`xxci.common.api`) over
gRPC (:mod:`.remote`), or in this process for ``--local`` (:mod:`.local`); ``connect``
picks one from the command line."""
