"""The repository side of a run: which pipeline files, git facts, the source archive."""
