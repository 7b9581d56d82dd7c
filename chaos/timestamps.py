"""Wall-clock timestamps as the journal stores them: ISO 8601 (UTC) and epoch seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Stamp", "now_stamp", "parse_start_at", "stamp_of"]

Stamp = dict[str, str | float]


def stamp_of(epoch: float) -> Stamp:
    iso = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return {"iso": iso.replace("+00:00", "Z"), "epoch": round(epoch, 3)}


def now_stamp() -> Stamp:
    return stamp_of(time.time())


def parse_start_at(value: str) -> float:
    """An epoch (``1767225600.5``) or ISO 8601 time (``2026-01-01T00:00:00Z``) as epoch seconds.

    An ISO time without a zone is taken as UTC. Raises ``ValueError`` naming the value.
    """
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"start time {value!r} is neither epoch seconds nor ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
