"""Prometheus-style durations (``90s``, ``5m``, ``1h30m``, ``3d``) to seconds and back."""

from __future__ import annotations

import re

__all__ = ["parse_duration", "format_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; ``ValueError`` naming the text if it is not one."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 3d)")
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or total <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 3d)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (rounded to whole milliseconds).

    ``format_duration(5400) == "1h30m"``; Prometheus accepts compound durations since 2.x.
    """
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {seconds!r} s")
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            n, ms = divmod(ms, size)
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)
