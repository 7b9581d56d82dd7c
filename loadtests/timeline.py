"""Per-second samples of a run, so any window (the peak, a step, a fault) can be judged.

The runner feeds :class:`Timeline` with *cumulative* counters (as Locust keeps them) once a
second; the timeline stores the per-interval deltas and answers questions about any time
window: its request rate, error rate and latency percentiles by endpoint class.
Pure Python: no Locust import, so it is unit-tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtests.endpoints import classify

__all__ = ["EndpointCounters", "Sample", "Timeline", "WindowStats", "percentile"]


@dataclass(frozen=True)
class EndpointCounters:
    """Cumulative counters of one endpoint (``"GET /api/v1/patients/{id}"``)."""

    requests: int
    failures: int
    # Response time in whole milliseconds (as Locust rounds them) -> count.
    response_times: Mapping[int, int]


@dataclass(frozen=True)
class Sample:
    """What happened between ``t - interval`` and ``t`` (seconds since the run started)."""

    t: float
    interval: float
    users: int
    target_users: int
    cpu_percent: float
    requests: int
    failures: int
    by_class: Mapping[str, Mapping[int, int]]


def percentile(response_times: Mapping[int, int], fraction: float) -> float | None:
    """The smallest response time with at least ``fraction`` of the samples at or below it."""
    total = sum(response_times.values())
    if total == 0:
        return None
    needed = fraction * total
    seen = 0
    for ms in sorted(response_times):
        seen += response_times[ms]
        if seen >= needed:
            return float(ms)
    return float(max(response_times))


def _merge(into: dict[int, int], more: Mapping[int, int]) -> None:
    for ms, count in more.items():
        into[ms] = into.get(ms, 0) + count


@dataclass(frozen=True)
class WindowStats:
    """Requests, failures, rate and latency of a time window."""

    start: float
    end: float
    requests: int
    failures: int
    latency: Mapping[str, Mapping[int, int]]
    users_min: int
    users_max: int
    target_users_max: int
    cpu_max: float
    cpu_mean: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def percentile(self, fraction: float, endpoint_class: str | None = None) -> float | None:
        """Latency percentile (ms) of one endpoint class, or of every request."""
        if endpoint_class is not None:
            return percentile(self.latency.get(endpoint_class, {}), fraction)
        merged: dict[int, int] = {}
        for times in self.latency.values():
            _merge(merged, times)
        return percentile(merged, fraction)

    def to_dict(self) -> dict[str, Any]:
        classes = {
            name: {
                "requests": sum(times.values()),
                "p50_ms": percentile(times, 0.50),
                "p95_ms": percentile(times, 0.95),
                "p99_ms": percentile(times, 0.99),
            }
            for name, times in sorted(self.latency.items())
        }
        return {
            "start_s": round(self.start, 3),
            "end_s": round(self.end, 3),
            "requests": self.requests,
            "failures": self.failures,
            "rate_rps": round(self.rate, 3),
            "error_rate": round(self.error_rate, 6),
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "classes": classes,
            "users_min": self.users_min,
            "users_max": self.users_max,
            "target_users_max": self.target_users_max,
            "cpu_max_percent": round(self.cpu_max, 1),
            "cpu_mean_percent": round(self.cpu_mean, 1),
        }


@dataclass
class Timeline:
    """Samples of one run; feed it with :meth:`record`, query it with :meth:`window`."""

    samples: list[Sample] = field(default_factory=list)
    _last_t: float = 0.0
    _last: dict[str, EndpointCounters] = field(default_factory=dict)

    def record(
        self,
        t: float,
        *,
        users: int,
        target_users: int,
        cpu_percent: float,
        endpoints: Mapping[str, EndpointCounters],
    ) -> Sample:
        """Add the sample at ``t`` from cumulative per-endpoint counters."""
        requests = failures = 0
        by_class: dict[str, dict[int, int]] = {}
        for name, now in endpoints.items():
            before = self._last.get(name)
            requests += now.requests - (before.requests if before else 0)
            failures += now.failures - (before.failures if before else 0)
            delta = by_class.setdefault(classify(name).value, {})
            for ms, count in now.response_times.items():
                grown = count - (before.response_times.get(ms, 0) if before else 0)
                if grown > 0:
                    delta[ms] = delta.get(ms, 0) + grown
        sample = Sample(
            t=t,
            interval=max(0.0, t - self._last_t),
            users=users,
            target_users=target_users,
            cpu_percent=cpu_percent,
            requests=max(0, requests),
            failures=max(0, failures),
            by_class={name: times for name, times in by_class.items() if times},
        )
        self.samples.append(sample)
        self._last_t = t
        # Copy: Locust keeps mutating its dicts after we return.
        self._last = {
            name: EndpointCounters(c.requests, c.failures, dict(c.response_times))
            for name, c in endpoints.items()
        }
        return sample

    @property
    def end(self) -> float:
        return self._last_t

    def window(self, start: float, end: float) -> WindowStats:
        """Stats of the samples whose interval lies inside ``[start, end]``.

        A sample covers ``(t - interval, t]``; it counts when its end falls in the window, so
        the window's length is measured from the first counted sample's start.
        """
        inside = [s for s in self.samples if start < s.t <= end + 1e-9]
        return self._stats(inside, start, end)

    def _stats(self, inside: Iterable[Sample], start: float, end: float) -> WindowStats:
        inside = list(inside)
        latency: dict[str, dict[int, int]] = {}
        for sample in inside:
            for name, times in sample.by_class.items():
                _merge(latency.setdefault(name, {}), times)
        if inside:
            start = inside[0].t - inside[0].interval
            end = inside[-1].t
        cpus = [s.cpu_percent for s in inside]
        return WindowStats(
            start=start,
            end=end if inside else start,
            requests=sum(s.requests for s in inside),
            failures=sum(s.failures for s in inside),
            latency=latency,
            users_min=min((s.users for s in inside), default=0),
            users_max=max((s.users for s in inside), default=0),
            target_users_max=max((s.target_users for s in inside), default=0),
            cpu_max=max(cpus, default=0.0),
            cpu_mean=sum(cpus) / len(cpus) if cpus else 0.0,
        )
