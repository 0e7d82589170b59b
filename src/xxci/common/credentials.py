"""Worker credentials: what a registered worker presents, and how the server keeps it.

A worker registers once with the shared token and is given its own credential: its
worker id and a random secret (256 bits), written as one bearer token::

    xxci-worker.<worker id>.<secret>

The worker keeps it in its work dir (mode 0600) and sends it as ``authorization:
Bearer ...`` on every later call. The server keeps only ``sha256:<hex>`` of the
secret: a secret this long cannot be guessed from its hash, so a slow password hash
would add nothing. :func:`secret_matches` compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["CREDENTIAL_PREFIX", "WorkerCredential", "hash_secret", "secret_matches"]

CREDENTIAL_PREFIX = "xxci-worker"
_SECRET_BYTES = 32
# Worker ids are made by the server (12 hex digits); secrets are URL-safe base64;
# neither holds a dot.
_FORM = re.compile(r"xxci-worker\.([0-9A-Za-z_-]{1,64})\.([A-Za-z0-9_-]{20,128})")


@dataclass(frozen=True)
class WorkerCredential:
    """A worker's id and its secret. ``str()`` hides the secret; :attr:`bearer` is the
    token to send."""

    worker_id: str
    secret: str

    @classmethod
    def issue(cls, worker_id: str) -> WorkerCredential:
        """A new credential for ``worker_id``, with a fresh random secret."""
        return cls(worker_id, secrets.token_urlsafe(_SECRET_BYTES))

    @classmethod
    def parse(cls, text: str) -> WorkerCredential | None:
        """The credential ``text`` spells, or None if it is not one (a shared token)."""
        match = _FORM.fullmatch(text.strip())
        return cls(match.group(1), match.group(2)) if match else None

    @property
    def bearer(self) -> str:
        return f"{CREDENTIAL_PREFIX}.{self.worker_id}.{self.secret}"

    def __str__(self) -> str:
        return f"{CREDENTIAL_PREFIX}.{self.worker_id}.***"

    def __repr__(self) -> str:
        return f"WorkerCredential(worker_id={self.worker_id!r}, secret='***')"


def hash_secret(secret: str) -> str:
    """What the server stores of a secret: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` is the one ``stored_hash`` was made from (constant time)."""
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())
