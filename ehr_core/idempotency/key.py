"""The ``Idempotency-Key`` request header: its format, and what identifies a request.

A key is 1-128 characters of ``[A-Za-z0-9._:-]`` (a uuid4 fits). The request it belongs
to is identified by its method, path and a SHA-256 over the query string and the body, so
a retry must repeat the request byte for byte to be replayed.
"""

from __future__ import annotations

import dataclasses
import hashlib

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
MAX_KEY_LENGTH = 128
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Where the request's :class:`~ehr_core.idempotency.keyed_write.KeyedWrite` lives in the
#: ASGI scope's ``state`` (``request.state``), for the middleware to find after the route.
STATE_NAME = "chartguard_idempotency"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestKey:
    """A request's idempotency key and the fingerprint a replay must match."""

    key: str
    method: str
    path: str
    request_sha256: str


def request_sha256(query: bytes, body: bytes) -> str:
    """SHA-256 over the query string and the body (length-prefixed, so the two cannot
    trade bytes with each other)."""
    digest = hashlib.sha256()
    digest.update(len(query).to_bytes(8, "big"))
    digest.update(query)
    digest.update(body)
    return digest.hexdigest()


__all__ = [
    "HEADER",
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "REPLAYED_HEADER",
    "STATE_NAME",
    "WRITE_METHODS",
    "RequestKey",
    "request_sha256",
]
