"""Prometheus metrics of the EHR (names as in docs/interfaces.md; no PHI in any label).

Under gunicorn the ``serve`` command sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports prometheus_client, so every worker writes its values to shared files and
``/metrics`` aggregates them with :class:`~prometheus_client.multiprocess.MultiProcessCollector`.
In-process (tests) each app gets its own :class:`CollectorRegistry`.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess

# Include the SLO thresholds (0.1, 0.25, 0.5, 1 s) as bucket edges.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "<unmatched>"


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The EHR's metric families, registered on ``registry`` (a fresh one by default)."""

    def __init__(self, *, region: str, registry: CollectorRegistry | None = None) -> None:
        self.region = region
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "chartguard_http_requests_total",
            "HTTP requests served, by route template, method and status.",
            ["region", "route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "chartguard_http_request_duration_seconds",
            "HTTP request duration by route template and method.",
            ["region", "route", "method"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "chartguard_http_requests_in_flight",
            "HTTP requests being served.",
            ["region"],
            multiprocess_mode="livesum",
            registry=self.registry,
        ).labels(region)
        self.pool_in_use = Gauge(
            "chartguard_db_pool_in_use",
            "Database connections checked out of the pool (sampled with each role probe).",
            ["region"],
            multiprocess_mode="livesum",
            registry=self.registry,
        ).labels(region)
        self.read_only = Gauge(
            "chartguard_read_only",
            "1 when this region serves read-only (its database is a standby).",
            ["region"],
            multiprocess_mode="livemax",
            registry=self.registry,
        ).labels(region)
        self.replication_lag = Gauge(
            "chartguard_replication_lag_seconds",
            "Seconds since the last transaction replayed from the primary (standby only).",
            ["region"],
            multiprocess_mode="livemax",
            registry=self.registry,
        ).labels(region)

        self.idempotency = Counter(
            "chartguard_idempotency_keys_total",
            "Writes with an Idempotency-Key, by what became of the key (stored, replayed, "
            "reused, in_flight, discarded).",
            ["region", "outcome"],
            registry=self.registry,
        )
        self.writes_held = Counter(
            "chartguard_writes_held_total",
            "Writes held on a standby during an announced switchover, by how the hold "
            "ended (released: the database was promoted and the write ran; expired: 503).",
            ["region", "outcome"],
            registry=self.registry,
        )
        self.password_work = Counter(
            "chartguard_password_checks_total",
            "Password checks and hashes (argon2), by outcome: done, or refused with 429 "
            "because too many were running or waiting in this worker.",
            ["region", "outcome"],
            registry=self.registry,
        )
        self.write_hold = Histogram(
            "chartguard_write_hold_seconds",
            "How long writes were held during an announced switchover.",
            ["region"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        ).labels(region)

    def observe_write_hold(self, *, released: bool, seconds: float) -> None:
        self.writes_held.labels(self.region, "released" if released else "expired").inc()
        self.write_hold.observe(seconds)

    def observe(self, *, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(self.region, route, method, str(status)).inc()
        self.duration.labels(self.region, route, method).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text of all workers (multiprocess) or of this registry."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (called from gunicorn's ``child_exit``)."""
    if multiprocess_dir():
        prom_multiprocess.mark_process_dead(pid)
