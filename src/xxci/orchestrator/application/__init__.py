"""The orchestrator's application service: what clients may ask, implemented once."""

from xxci.orchestrator.application.service import OrchestratorService

__all__ = ["OrchestratorService"]
