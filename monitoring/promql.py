"""A small client for Prometheus' HTTP API (instant and range queries, reload).

Results come back as plain data; values are floats and may be NaN or infinite exactly as
Prometheus computed them: deciding what a NaN means is the caller's business (the gate
never treats one as a pass). Every failure raises: :class:`PrometheusUnavailable` when
nothing answers, :class:`QueryError` when Prometheus answers with an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import httpx

from monitoring.errors import PrometheusUnavailable, QueryError

__all__ = ["Sample", "Series", "PrometheusClient"]


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    timestamp: float
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: parallel timestamps and values."""

    labels: dict[str, str]
    timestamps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def finite_values(self) -> list[float]:
        """The values that are real numbers (NaN and infinities dropped)."""
        return [v for v in self.values if math.isfinite(v)]


def _value(text: Any) -> float:
    # Prometheus encodes sample values as strings: "1.5", "NaN", "+Inf", "-Inf".
    try:
        return float(text)
    except (TypeError, ValueError) as e:
        raise QueryError(f"Prometheus returned a non-numeric sample value {text!r}") from e


class PrometheusClient:
    """Queries one Prometheus server over HTTP.

    ``client`` may be injected (tests, shared connection pools); otherwise one is created
    with ``timeout`` seconds per request and closed by :meth:`close`.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, client: httpx.Client | None = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus URL must be http(s)://..., got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._own = client is None
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own:
            self._client.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _api(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self._client.post(url, data=params)
        except httpx.HTTPError as e:
            raise PrometheusUnavailable(f"Prometheus at {self.base_url} did not answer: {e}") from e
        try:
            body = response.json()
        except ValueError as e:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} answered HTTP {response.status_code} "
                "without a JSON body (is it Prometheus?)"
            ) from e
        if not isinstance(body, dict) or body.get("status") != "success":
            err = body.get("error", "unknown error") if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise QueryError(f"Prometheus refused {params.get('query', path)!r}: {kind}: {err}")
        return body.get("data")

    def instant(self, query: str, at: float | None = None) -> list[Sample]:
        """Evaluate ``query`` at time ``at`` (unix seconds; now when None)."""
        params = {"query": query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._api("/api/v1/query", params)
        kind = data.get("resultType") if isinstance(data, dict) else None
        result = data.get("result") if isinstance(data, dict) else None
        if kind == "scalar" and isinstance(result, list):
            return [Sample(labels={}, timestamp=float(result[0]), value=_value(result[1]))]
        if kind != "vector" or not isinstance(result, list):
            raise QueryError(f"expected an instant vector from {query!r}, got {kind!r}")
        return [
            Sample(
                labels=dict(item.get("metric", {})),
                timestamp=float(item["value"][0]),
                value=_value(item["value"][1]),
            )
            for item in result
        ]

    def range(self, query: str, *, start: float, end: float, step: float) -> list[Series]:
        """Evaluate ``query`` every ``step`` seconds from ``start`` to ``end``."""
        if end <= start or step <= 0:
            raise ValueError(f"range query needs start < end and step > 0 ({start}, {end}, {step})")
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._api("/api/v1/query_range", params)
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "matrix" or result is None:
            raise QueryError(f"expected a range vector from {query!r}")
        return [
            Series(
                labels=dict(item.get("metric", {})),
                timestamps=[float(t) for t, _ in item.get("values", [])],
                values=[_value(v) for _, v in item.get("values", [])],
            )
            for item in result
        ]

    def ready(self) -> bool:
        """True when Prometheus answers ``/-/ready`` with 200."""
        try:
            return self._client.get(f"{self.base_url}/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def reload(self) -> None:
        """Ask Prometheus to reload its configuration and rules (``--web.enable-lifecycle``)."""
        try:
            response = self._client.post(f"{self.base_url}/-/reload")
        except httpx.HTTPError as e:
            raise PrometheusUnavailable(f"Prometheus at {self.base_url} did not answer: {e}") from e
        if response.status_code != 200:
            raise QueryError(
                f"Prometheus at {self.base_url} refused to reload (HTTP {response.status_code}: "
                f"{response.text.strip()[:200]}); is --web.enable-lifecycle set, the config valid?"
            )
