"""xxci: a CI/CD pipeline system."""

__version__ = "0.1.0"
