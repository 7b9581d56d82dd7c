"""How a careful practice client retries a write whose answer was lost.

Every write carries a fresh ``Idempotency-Key`` (uuid4). When its answer does not say
what happened -- no response (timeout, reset connection), 502, 504, 503 other than
``read_only``, or 409 ``idempotency_key_in_flight`` (the first attempt still runs) -- the
same request is sent again with the SAME key, a bounded number of times within a bounded
time, with jittered exponential backoff. The EHR applies a keyed write at most once and
replays its stored answer, so a retried write is one write.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loadtests.ledger import LedgerEntry, WriteStatus, write_outcome
from loadtests.settings import LoadSettings

__all__ = [
    "IDEMPOTENCY_HEADER",
    "IN_FLIGHT",
    "REPLAYED_HEADER",
    "RetryPolicy",
    "final_outcome",
    "retry_counts",
    "retry_policy",
    "retryable",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_FLIGHT = "idempotency_key_in_flight"
_RETRY_STATUSES = frozenset({0, 502, 503, 504})


def _code(body: Any) -> str | None:
    return body.get("error") if isinstance(body, Mapping) else None


def retryable(status: int, body: Any) -> bool:
    """True when the answer leaves the write's fate open and a retry may settle it."""
    if status == 409:
        return _code(body) == IN_FLIGHT
    if status == 503 and _code(body) == "read_only":
        return False  # a clean refusal: the router will move writes; nothing was written
    return status in _RETRY_STATUSES


def final_outcome(status: int, body: Any) -> WriteStatus:
    """The ledger status of a write after its last attempt: as :func:`write_outcome`,
    except that a key still in flight is indeterminate (an earlier attempt may commit)."""
    if status == 409 and _code(body) == IN_FLIGHT:
        return WriteStatus.indeterminate
    return write_outcome(status, body if isinstance(body, Mapping) else None)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` requests at most (1 = never retry), all started within
    ``budget_seconds`` of the first; backoff ``base_seconds * 2**n``, jittered x0.5-1.5,
    at least the server's ``Retry-After`` when it gave one, up to ``max_retry_after``
    (a 503's Retry-After of several seconds would spend the whole budget waiting)."""

    attempts: int = 3
    budget_seconds: float = 4.0
    base_seconds: float = 0.2
    max_retry_after: float = 1.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = self.base_seconds * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            try:
                wait = max(wait, min(float(retry_after), self.max_retry_after))
            except ValueError:
                pass
        return wait


def retry_policy(settings: LoadSettings) -> RetryPolicy:
    """The policy from ``CHARTGUARD_LOAD_WRITE_ATTEMPTS`` / ``..._WRITE_RETRY_SECONDS``."""
    return RetryPolicy(
        attempts=settings.write_attempts, budget_seconds=settings.write_retry_seconds
    )


def retry_counts(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """For the run summary: writes that needed a retry (``retried``), those a retry
    settled as acknowledged (``saved_by_retry``; of them ``replayed``: the EHR had applied
    an earlier attempt and answered from its store), and attempts in all."""
    retried = saved = replayed = attempts = 0
    for entry in entries:
        attempts += entry.attempts
        if entry.attempts > 1:
            retried += 1
            if entry.status is WriteStatus.ack:
                saved += 1
                replayed += 1 if entry.replayed else 0
    return {
        "write_attempts": attempts,
        "retried": retried,
        "saved_by_retry": saved,
        "replayed": replayed,
    }
