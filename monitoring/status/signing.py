"""HMAC-SHA256 signatures for outgoing webhooks (and their verification, for subscribers).

Header ``X-Chartguard-Signature: t=<unix seconds>,v1=<hex>`` where the hex digest is
``HMAC-SHA256(secret, "<t>." + body)``. Signing the timestamp with the body lets a
subscriber reject replays older than a tolerance window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from monitoring.status.errors import SignatureError

SIGNATURE_HEADER = "X-Chartguard-Signature"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value signing ``body`` at ``timestamp`` (now by default)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={_digest(secret, ts, body)}"


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance_seconds: float = 300,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``body``; return its timestamp or raise ``SignatureError``."""
    if not header:
        raise SignatureError(f"{SIGNATURE_HEADER} header is missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"{SIGNATURE_HEADER} is malformed: expected t=...,v1=...")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as e:
        raise SignatureError(f"{SIGNATURE_HEADER} has no valid t= timestamp") from e
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(f"{SIGNATURE_HEADER} timestamp is outside the tolerance window")
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
    return timestamp
