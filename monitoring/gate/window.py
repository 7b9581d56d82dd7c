"""Time windows given on the command line: ``START..END``.

Each end is an ISO 8601 time (``2026-11-21T23:00:00Z``; no zone means UTC), unix
seconds (``1795000000``), ``now`` or ``now-<duration>`` (``now-10m``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitoring.duration import format_duration, parse_duration
from monitoring.errors import GateInputError

__all__ = ["TimeWindow", "parse_instant"]

# A window may end this far in the future (clock skew between hosts), no further:
# gating a window that has not happened yet would judge missing data.
_FUTURE_SLACK = 5.0


def parse_instant(text: str, *, now: float) -> float:
    """Unix seconds for one end of a window (see the module docstring)."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("now-"):
        try:
            return now - parse_duration(text[4:])
        except ValueError as e:
            raise GateInputError(f"bad time {text!r}: {e}") from e
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value <= 0:
            raise GateInputError(f"bad time {text!r}: unix seconds must be positive")
        return value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise GateInputError(
            f"bad time {text!r}: use ISO 8601, unix seconds, 'now' or 'now-10m'"
        ) from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True)
class TimeWindow:
    """A closed time range in unix seconds (``end`` > ``start``)."""

    start: float
    end: float

    @classmethod
    def parse(cls, text: str, *, now: float | None = None, what: str = "window") -> TimeWindow:
        """Parse ``START..END``; :class:`GateInputError` naming ``what`` when it is wrong."""
        now = time.time() if now is None else now
        if text.count("..") != 1:
            raise GateInputError(f"{what}: expected START..END, got {text!r}")
        first, second = text.split("..")
        try:
            window = cls(parse_instant(first, now=now), parse_instant(second, now=now))
        except GateInputError as e:
            raise GateInputError(f"{what}: {e}") from e
        if window.end - window.start < 1:
            raise GateInputError(f"{what}: END must be at least 1s after START ({text!r})")
        if window.end > now + _FUTURE_SLACK:
            raise GateInputError(f"{what}: ends in the future ({text!r}); wait until it is over")
        return window

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def range(self) -> str:
        """The window's length as a PromQL range (whole seconds), e.g. ``10m``."""
        return format_duration(max(1, round(self.seconds)))

    def overlaps(self, other: TimeWindow) -> bool:
        return self.start < other.end and other.start < self.end

    def to_dict(self) -> dict[str, Any]:
        iso = {
            k: datetime.fromtimestamp(v, tz=UTC).isoformat().replace("+00:00", "Z")
            for k, v in (("start", self.start), ("end", self.end))
        }
        return {"start": self.start, "end": self.end, "start_iso": iso["start"],
                "end_iso": iso["end"], "seconds": self.seconds}
