"""What the web view asks of an orchestrator: the one client API.

The web edge reads and acts through :class:`~xxci.common.api.OrchestratorApi`, the
interface the CLI uses too: report queries, the status, the event and log feeds,
cancel and artifact bytes. In ``xxci server --http`` that is the application service
of the orchestrator in the same process; in ``xxci web --local`` it is whatever
``--local`` reaches (the service in this process, or the local orchestrator another
process runs, over gRPC). So a page, the JSON API and the CLI cannot disagree.
"""

from __future__ import annotations

from xxci.common.api import OrchestratorApi, Outcome

__all__ = ["Backend", "CancelAnswer"]

Backend = OrchestratorApi
"""The orchestrator as the web view sees it."""

CancelAnswer = Outcome
"""Whether a cancel was recorded, and what to tell the user."""
