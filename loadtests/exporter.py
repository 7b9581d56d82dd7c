"""Live Prometheus metrics of the load generator (``chartguard_load_*``), on loopback.

So the SLA gate can set the client's view beside the EHR's own metrics (monitoring/slo.yaml
reads ``chartguard_load_requests_total{outcome!="ok"}`` and
``chartguard_load_request_duration_seconds``): requests by endpoint template, class and
outcome, latency histograms by class, users, the target
and achieved request rates, the generator's CPU and the ledger's counts. Endpoint labels
are path templates (``/api/v1/patients/{id}``): no ids, no PHI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from loadtests.endpoints import classify, split_name
from loadtests.timeline import EndpointCounters

__all__ = ["BUCKETS_SECONDS", "LoadCollector", "LoadSnapshot", "serve_metrics"]

BUCKETS_SECONDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LoadSnapshot:
    """The generator's state at one moment (cumulative counters, current gauges)."""

    endpoints: Mapping[str, EndpointCounters] = field(default_factory=dict)
    users: int = 0
    target_users: int = 0
    target_rate: float = 0.0
    achieved_rate: float = 0.0
    cpu_percent: float = 0.0
    ledger: Mapping[str, int] = field(default_factory=dict)


class LoadCollector(Collector):
    """Renders a :class:`LoadSnapshot` (from ``snapshot()``) as Prometheus metrics."""

    def __init__(self, snapshot: Callable[[], LoadSnapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        snap = self.snapshot()
        # outcome="ok"|"error": the SLO's client-side availability SLI counts outcome!="ok".
        requests = CounterMetricFamily(
            "chartguard_load_requests",
            "Requests sent by the load generator, by outcome (error: error status, timeout "
            "or broken connection)",
            labels=["endpoint", "method", "class", "outcome"],
        )
        by_class: dict[str, dict[int, int]] = {}
        for name, counters in sorted(snap.endpoints.items()):
            method, path = split_name(name)
            endpoint_class = classify(name).value
            labels = [path, method, endpoint_class]
            requests.add_metric([*labels, "ok"], counters.requests - counters.failures)
            requests.add_metric([*labels, "error"], counters.failures)
            merged = by_class.setdefault(endpoint_class, {})
            for ms, count in counters.response_times.items():
                merged[ms] = merged.get(ms, 0) + count
        yield requests
        duration = HistogramMetricFamily(
            "chartguard_load_request_duration_seconds",
            "Response time seen by the load generator",
            labels=["class"],
        )
        for endpoint_class, times in sorted(by_class.items()):
            buckets = []
            for bound in BUCKETS_SECONDS:
                below = sum(c for ms, c in times.items() if ms / 1000.0 <= bound)
                buckets.append((repr(bound), float(below)))
            buckets.append(("+Inf", float(sum(times.values()))))
            total = sum(ms * c for ms, c in times.items()) / 1000.0
            duration.add_metric([endpoint_class], buckets, total)
        yield duration
        for name, doc, value in (
            ("chartguard_load_users", "Simulated people running", snap.users),
            ("chartguard_load_target_users", "Simulated people the shape asks for",
             snap.target_users),
            ("chartguard_load_target_rate_requests_per_second",
             "Request rate the shape asks for now", snap.target_rate),
            ("chartguard_load_achieved_rate_requests_per_second",
             "Request rate achieved over the last seconds", snap.achieved_rate),
            ("chartguard_load_generator_cpu_percent",
             "Highest CPU use of a generator process", snap.cpu_percent),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        ledger = CounterMetricFamily(
            "chartguard_load_ledger_writes", "Writes recorded in the ledger", labels=["status"]
        )
        for status, count in sorted(snap.ledger.items()):
            ledger.add_metric([status], count)
        yield ledger


def serve_metrics(
    snapshot: Callable[[], LoadSnapshot], *, host: str = "127.0.0.1", port: int = 0
) -> tuple[Any, str]:
    """Serve the metrics over HTTP; returns the server (``shutdown()`` it) and its URL."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LoadCollector(snapshot))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    bound_port = int(server.server_address[1])
    return server, f"http://{host}:{bound_port}/metrics"
