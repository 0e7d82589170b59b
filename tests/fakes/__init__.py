"""Fakes shared by test folders: a scripted executor and a scripted orchestrator."""
