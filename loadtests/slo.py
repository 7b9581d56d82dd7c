"""Take the latency SLO from ``monitoring/slo.yaml`` (the one place it lives).

Only the file is shared: this package does not import ``monitoring``. The SLO says that a
``target`` share of requests answer within ``threshold`` (``objectives.latency``); a load
run holds reads and writes to exactly that: the ``target`` percentile (p95 or p99) of each
class must be at most the threshold.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from loadtests.errors import ProfileError
from loadtests.profile import EndpointClass, LatencyLimit, Thresholds

__all__ = ["apply_slo", "read_latency_slo"]

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)\s*$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: Any, field: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 1000.0  # bare numbers are seconds
    match = _DURATION.match(str(value))
    if not match:
        raise ProfileError(field, f"{value!r} is not a duration like 500ms or 1s")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def read_latency_slo(path: str | Path) -> tuple[float, float]:
    """``(threshold_ms, target)`` of the latency objective in an SLO spec file."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ProfileError("(slo)", f"cannot read SLO spec {path}: {e}") from e
    latency = (spec or {}).get("objectives", {}).get("latency") if isinstance(spec, dict) else None
    if not isinstance(latency, dict):
        raise ProfileError("objectives.latency", f"{path} has no latency objective")
    threshold = _ms(latency.get("threshold"), "objectives.latency.threshold")
    target = latency.get("target")
    if not isinstance(target, int | float) or not 0 < target < 1:
        raise ProfileError("objectives.latency.target", f"{target!r} is not a ratio in (0, 1)")
    return threshold, float(target)


def apply_slo(thresholds: Thresholds, threshold_ms: float, target: float) -> Thresholds:
    """``thresholds`` with reads and writes held to the SLO alone (its target percentile,
    p95 or p99, at most its threshold); other classes keep the profile's limits."""
    percentile = {0.95: "p95_ms", 0.99: "p99_ms"}.get(round(target, 6))
    if percentile is None:
        raise ProfileError(
            "objectives.latency.target", f"{target} is not supported (0.95 or 0.99)"
        )
    latency = dict(thresholds.latency_ms)
    for endpoint_class in (EndpointClass.read, EndpointClass.write):
        # Instead of the profile's limits, not on top of them: the SLO is the whole rule.
        latency[endpoint_class] = LatencyLimit(**{percentile: threshold_ms})
    return thresholds.model_copy(update={"latency_ms": latency})
