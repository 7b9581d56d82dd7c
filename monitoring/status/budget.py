"""The SLO panel: objective from ``monitoring/slo.yaml``, numbers from Prometheus.

Availability is measured at the edge from ``chartguard_http_requests_total`` (5xx are bad
events). Without a Prometheus URL, or when a query fails or comes back empty, the panel
says "no data": it never shows a made-up number.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

log = logging.getLogger(__name__)

_ERRORS = 'sum(rate(chartguard_http_requests_total{{status=~"5.."}}[{w}]))'
_TOTAL = "sum(rate(chartguard_http_requests_total[{w}]))"


def error_ratio_query(window: str) -> str:
    return f"({_ERRORS.format(w=window)} or vector(0)) / {_TOTAL.format(w=window)}"


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


DEFAULT_SLO_PATH = Path(__file__).resolve().parents[1] / "slo.yaml"


def load_objective(path: Path | None = None) -> float | None:
    """The availability objective (e.g. 0.999) from the SLO spec, or None if unavailable.

    Reads through ``monitoring.slo.load_spec`` (the one loader of ``slo.yaml``) when it
    is importable, else takes ``objectives.availability.target`` from the YAML directly.
    """
    try:
        from monitoring.slo import load_spec
    except ImportError:
        load_spec = None  # type: ignore[assignment]
    try:
        if load_spec is not None:
            return float(load_spec(path).objective("availability").target)
        doc = yaml.safe_load((path or DEFAULT_SLO_PATH).read_text())
        return float(doc["objectives"]["availability"]["target"])
    except Exception as e:  # the page shows "no data" rather than failing; logged, not hidden
        log.warning("cannot read the availability objective: %s", e)
        return None


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

    async def _compute(self) -> SloSnapshot:
        objective = load_objective(self._slo_path)
        snap = SloSnapshot(objective=objective)
        if self._url is None:
            snap.error = "Prometheus is not configured"
            return snap
        try:
            err_24h = await self._query(error_ratio_query("1d"))
            err_30d = await self._query(error_ratio_query("30d"))
            err_1h = await self._query(error_ratio_query("1h"))
            snap.series_24h = [1 - v for v in await self._range(error_ratio_query("30m"))]
        except (httpx.HTTPError, KeyError, ValueError, IndexError, TypeError) as e:
            snap.error = f"Prometheus query failed ({type(e).__name__})"
            return snap
        snap.availability_24h = None if err_24h is None else 1 - err_24h
        snap.availability_30d = None if err_30d is None else 1 - err_30d
        if objective is not None and objective < 1:
            allowed = 1 - objective
            if err_30d is not None:
                snap.budget_remaining = 1 - err_30d / allowed
            if err_1h is not None:
                snap.burn_rate_1h = err_1h / allowed
        if err_24h is None and err_30d is None:
            snap.error = "Prometheus has no request data yet"
        return snap
