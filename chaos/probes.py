"""Steady-state probes: HTTP status/latency and Prometheus instant queries, with tolerances.

A probe out of tolerance (wrong status, too slow, connection refused, a value out of bounds)
is a result with ``ok=False``: that is what chaos is looking for. A probe that cannot be
evaluated at all (an unresolved ``${variable}``, an answer that is not Prometheus JSON)
raises :class:`chaos.errors.ProbeError`, and the run ends and rolls back.
"""

from __future__ import annotations

import math
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from chaos.errors import ProbeError
from chaos.safety import require_loopback_url
from chaos.scenario import HttpProbe, Probe, PrometheusProbe

__all__ = ["DEFAULT_VARIABLES", "ProbeResult", "ProbeRunner", "resolve_url"]

# Where the local stack puts things (docs/interfaces.md); deployment.json and --var override.
DEFAULT_VARIABLES: dict[str, str] = {
    "router": "http://127.0.0.1:8080",
    "prometheus": "http://127.0.0.1:9090",
    "alertmanager": "http://127.0.0.1:9093",
    "toxiproxy": "http://127.0.0.1:8474",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome; ``value`` is the HTTP status or the query's value."""

    name: str
    ok: bool
    value: float | None
    latency_ms: float
    detail: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "ok": self.ok,
            "value": self.value,
            "latency_ms": round(self.latency_ms, 3),
            "detail": self.detail,
        }


def resolve_url(url: str, variables: Mapping[str, str], *, what: str) -> str:
    """Fill ``${name}`` placeholders and require the result to be a loopback URL."""
    try:
        resolved = string.Template(url).substitute(variables)
    except (KeyError, ValueError) as e:
        raise ProbeError(f"{what}: unknown variable {e} in {url!r} (set it with --var)") from e
    require_loopback_url(resolved, what=what)
    return resolved


class ProbeRunner:
    """Evaluates probes over one HTTP client; close it (or use ``with``) when done."""

    def __init__(self, *, variables: Mapping[str, str]) -> None:
        self.variables = {**DEFAULT_VARIABLES, **variables}
        self._client = httpx.Client(follow_redirects=False, trust_env=False)

    def __enter__(self) -> ProbeRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url_of(self, probe: Probe) -> str:
        return resolve_url(probe.url, self.variables, what=f"probe {probe.name}")

    def run(self, probe: Probe) -> ProbeResult:
        if isinstance(probe, HttpProbe):
            return self._http(probe)
        return self._prometheus(probe)

    def _http(self, probe: HttpProbe) -> ProbeResult:
        url = self.url_of(probe)
        started = time.perf_counter()
        try:
            response = self._client.request(probe.method, url, timeout=probe.timeout_s)
        except httpx.HTTPError as e:
            elapsed = (time.perf_counter() - started) * 1000
            return ProbeResult(probe.name, False, None, elapsed, f"no answer: {type(e).__name__}")
        elapsed = (time.perf_counter() - started) * 1000
        status = response.status_code
        if status not in probe.expect_status:
            return ProbeResult(probe.name, False, status, elapsed, f"status {status}")
        if probe.max_latency_ms is not None and elapsed > probe.max_latency_ms:
            detail = f"{elapsed:.0f} ms > {probe.max_latency_ms:g} ms"
            return ProbeResult(probe.name, False, status, elapsed, detail)
        return ProbeResult(probe.name, True, status, elapsed, f"status {status}")

    def _prometheus(self, probe: PrometheusProbe) -> ProbeResult:
        base = self.url_of(probe).rstrip("/")
        started = time.perf_counter()
        try:
            response = self._client.get(
                f"{base}/api/v1/query", params={"query": probe.query}, timeout=probe.timeout_s
            )
        except httpx.HTTPError as e:
            elapsed = (time.perf_counter() - started) * 1000
            return ProbeResult(probe.name, False, None, elapsed, f"no answer: {type(e).__name__}")
        elapsed = (time.perf_counter() - started) * 1000
        value = _instant_value(probe.name, response)
        if value is None:
            return ProbeResult(probe.name, False, None, elapsed, "query returned no data")
        low = -math.inf if probe.min is None else probe.min
        high = math.inf if probe.max is None else probe.max
        ok = low <= value <= high
        detail = f"{value:g} {'within' if ok else 'not in'} [{low:g}, {high:g}]"
        return ProbeResult(probe.name, ok, value, elapsed, detail)


def _instant_value(name: str, response: httpx.Response) -> float | None:
    """The single value of an instant-query answer; None for an empty vector."""
    try:
        body = response.json()
        if body.get("status") != "success":
            raise ProbeError(f"probe {name}: prometheus error: {body.get('error', '?')}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        if data["resultType"] != "vector":
            raise ProbeError(f"probe {name}: query must return a scalar or a vector")
        result = data["result"]
        if not result:
            return None
        if len(result) > 1:
            raise ProbeError(f"probe {name}: query returned {len(result)} series, not one")
        return float(result[0]["value"][1])
    except ProbeError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        raise ProbeError(
            f"probe {name}: answer (HTTP {response.status_code}) is not Prometheus query JSON"
        ) from e
