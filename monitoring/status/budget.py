"""The SLO panel: objective and SLI queries from ``monitoring/slo.yaml``, numbers from
Prometheus.

The availability objective's own PromQL (``Objective.overall_error_ratio``: the router's
edge counters when they exist, else the EHR's) is evaluated over 24 h, the SLO period and
1 h. Without a Prometheus URL, or when a query fails or comes back empty, the panel says
"no data": it never shows a made-up number.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from monitoring.errors import MonitoringError
from monitoring.slo import Objective, load_spec

log = logging.getLogger(__name__)

@dataclass(slots=True)
class SloSnapshot:
    """Numbers for the page; ``None`` means no data (shown as such)."""

    objective: float | None
    availability_24h: float | None = None
    availability_30d: float | None = None
    budget_remaining: float | None = None
    burn_rate_1h: float | None = None
    series_24h: list[float] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "availability_24h": self.availability_24h,
            "availability_30d": self.availability_30d,
            "error_budget_remaining": self.budget_remaining,
            "burn_rate_1h": self.burn_rate_1h,
            "series_24h": self.series_24h,
            "error": self.error,
        }


class SloPanel:
    """Queries Prometheus for the SLO numbers; results cached for ``ttl`` seconds."""

    def __init__(self, *, prometheus_url: str | None, slo_path: Path | None,
                 client: httpx.AsyncClient, ttl: float = 30.0) -> None:
        self._url = prometheus_url.rstrip("/") if prometheus_url else None
        self._slo_path = slo_path
        self._client = client
        self._ttl = ttl
        self._cached: tuple[float, SloSnapshot] | None = None

    async def snapshot(self) -> SloSnapshot:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < self._ttl:
            return self._cached[1]
        snap = await self._compute()
        self._cached = (now, snap)
        return snap

    async def _query(self, expr: str) -> float | None:
        assert self._url is not None
        r = await self._client.get(f"{self._url}/api/v1/query", params={"query": expr})
        r.raise_for_status()
        result = r.json()["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) or math.isinf(value) else value

    async def _range(self, expr: str) -> list[float]:
        assert self._url is not None
        end = time.time()
        r = await self._client.get(
            f"{self._url}/api/v1/query_range",
            params={"query": expr, "start": end - 86400, "end": end, "step": 1800},
        )
        r.raise_for_status()
        result = r.json()["data"]["result"]
        if not result:
            return []
        values = [float(v[1]) for v in result[0]["values"]]
        return [v for v in values if not (math.isnan(v) or math.isinf(v))]

    def _objective(self) -> tuple[Objective, float] | str:
        """The availability objective and the SLO period in seconds, or why not."""
        try:
            spec = load_spec(self._slo_path)
            return spec.objective("availability"), float(spec.period)
        except MonitoringError as e:
            log.warning("SLO spec unusable for the status page: %s", e)
            return f"SLO spec unusable ({e})"

    async def _compute(self) -> SloSnapshot:
        found = self._objective()
        if isinstance(found, str):
            return SloSnapshot(objective=None, error=found)
        objective, period = found
        snap = SloSnapshot(objective=objective.target)
        if self._url is None:
            snap.error = "Prometheus is not configured"
            return snap
        try:
            err_24h = await self._query(objective.overall_error_ratio("1d"))
            err_period = await self._query(objective.overall_error_ratio(f"{int(period)}s"))
            err_1h = await self._query(objective.overall_error_ratio("1h"))
            series = await self._range(objective.overall_error_ratio("30m"))
        except (httpx.HTTPError, KeyError, ValueError, IndexError, TypeError) as e:
            snap.error = f"Prometheus query failed ({type(e).__name__})"
            return snap
        snap.series_24h = [1 - v for v in series]
        snap.availability_24h = None if err_24h is None else 1 - err_24h
        snap.availability_30d = None if err_period is None else 1 - err_period
        if err_period is not None:
            snap.budget_remaining = 1 - err_period / objective.budget
        if err_1h is not None:
            snap.burn_rate_1h = err_1h / objective.budget
        if err_24h is None and err_period is None:
            snap.error = "Prometheus has no request data yet"
        return snap
