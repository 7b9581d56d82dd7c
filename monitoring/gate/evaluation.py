"""Evaluate the release gate for a time window through Prometheus' HTTP API.

For every objective in the SLO spec the gate asks: the SLI over the window, overall (the
first source with data: the router's edge view, else the EHR's own counters) and per
region, against the objective; the error budget left over the SLO period ending with the
window; and the load generator's client-side view when its metrics exist. Then the worst
replication lag, the ledger verify result and the failover result when given, and with a
baseline window a statistical comparison of latency samples (see
:mod:`monitoring.gate.comparison`).

Nothing here turns a missing answer into a pass: an empty result, a NaN, or a Prometheus
that errs or does not answer makes the check ``error``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitoring.duration import format_duration
from monitoring.errors import GateInputError, PrometheusError, PrometheusUnavailable
from monitoring.gate.comparison import compare_samples
from monitoring.gate.inputs import failover_checks, ledger_checks
from monitoring.gate.result import Check, CheckStatus, GateResult
from monitoring.gate.window import TimeWindow
from monitoring.promql import PrometheusClient, Sample
from monitoring.slo import LatencySource, Objective, Profile, SLOSpec, Source

__all__ = ["GateRequest", "Gate", "REPLICATION_LAG_METRIC"]

# docs/interfaces.md: the EHR's replication lag gauge (standby regions).
REPLICATION_LAG_METRIC = "chartguard_replication_lag_seconds"


@dataclass(frozen=True, kw_only=True)
class GateRequest:
    """What to gate: a window, optionally a baseline and result files."""

    window: TimeWindow
    baseline: TimeWindow | None = None
    profile: str = "standard"
    ledger_verify: Path | None = None
    failover: Path | None = None
    require_client: bool = False
    #: Seconds per latency sample of the baseline comparison (default: the profile's
    #: ``step``). Short runs need a short step to have enough samples; a step must still
    #: span several scrapes.
    step: float | None = None

    def __post_init__(self) -> None:
        if self.step is not None and not (1.0 <= self.step <= 3600.0):
            raise GateInputError(f"step: {self.step:g} s is outside 1..3600 s")


class _Prometheus:
    """Queries through one client; after the first 'did not answer', stops asking."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client
        self.down: PrometheusUnavailable | None = None

    def instant(self, query: str, at: float) -> list[Sample]:
        if self.down is not None:
            raise self.down
        try:
            return self.client.instant(query, at)
        except PrometheusUnavailable as e:
            self.down = e
            raise

    def range(self, query: str, *, start: float, end: float, step: float) -> list[list[float]]:
        if self.down is not None:
            raise self.down
        try:
            return [s.values for s in self.client.range(query, start=start, end=end, step=step)]
        except PrometheusUnavailable as e:
            self.down = e
            raise


def _finite(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if math.isfinite(s.value)]


def _error(name: str, e: PrometheusError, query: str | None = None) -> Check:
    return Check(name=name, status=CheckStatus.ERROR, query=query, detail=str(e))


class Gate:
    """Evaluates :class:`GateRequest` s against one Prometheus with one SLO spec."""

    def __init__(
        self,
        *,
        client: PrometheusClient,
        spec: SLOSpec,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.spec = spec
        self.clock = clock

    def evaluate(self, request: GateRequest) -> GateResult:
        """All checks for ``request``; raises :class:`GateInputError` for unusable input."""
        profile = self.spec.profile(request.profile)
        if request.baseline is not None and request.baseline.overlaps(request.window):
            raise GateInputError("baseline: must not overlap the window")
        prom = _Prometheus(self.client)
        checks: list[Check] = []
        for objective in self.spec.objectives.values():
            checks += self._objective_checks(prom, objective, profile, request)
        checks.append(self._replication_lag(prom, request))
        if request.ledger_verify is not None:
            checks += ledger_checks(request.ledger_verify, self.spec.gate)
        if request.failover is not None:
            checks += failover_checks(request.failover, self.spec.gate)
        if request.baseline is not None:
            step = request.step if request.step is not None else profile.step
            checks += self._comparisons(prom, step, request.window, request.baseline)
        return GateResult(
            window=request.window,
            baseline=request.baseline,
            profile=profile.name,
            prometheus_url=self.client.base_url,
            checks=checks,
            evaluated_at=self.clock(),
        )

    # -- SLIs ---------------------------------------------------------------------------

    def _first_with_data(
        self, prom: _Prometheus, objective: Objective, window: str, at: float
    ) -> tuple[Source, float, str] | None:
        """The first overall source with a finite error ratio: (source, ratio, query)."""
        for source in objective.indicator.overall:
            query = objective.error_ratio(source, window, (), True)
            found = _finite(prom.instant(query, at))
            if found:
                return source, found[0].value, query
        return None

    def _objective_checks(
        self, prom: _Prometheus, objective: Objective, profile: Profile, request: GateRequest
    ) -> list[Check]:
        checks = [
            self._overall(prom, objective, request.window),
            *self._per_region(prom, objective, request.window),
            self._budget(prom, objective, profile, request.window),
        ]
        client = self._client_view(prom, objective, request)
        if client is not None:
            checks.append(client)
        return checks

    def _requests(self, prom: _Prometheus, source: Source, window: TimeWindow) -> str:
        found = _finite(prom.instant(source.requests(window.range, (), True), window.end))
        if not found:
            return ""
        return f"{found[0].value:,.0f} requests via {source.source}"

    def _overall(self, prom: _Prometheus, objective: Objective, window: TimeWindow) -> Check:
        name = f"{objective.name} overall"
        tried = ", ".join(s.source for s in objective.indicator.overall)
        try:
            found = self._first_with_data(prom, objective, window.range, window.end)
            if found is None:
                return Check(
                    name=name,
                    status=CheckStatus.ERROR,
                    threshold=objective.target,
                    comparator=">=",
                    unit="ratio",
                    query=objective.overall_error_ratio(window.range, True),
                    detail=f"no data in the window from any source ({tried})",
                )
            source, ratio, query = found
            details = [self._requests(prom, source, window)]
            if isinstance(source, LatencySource):
                p99 = _finite(prom.instant(source.quantile(0.99, window.range), window.end))
                if p99:
                    details.append(f"p99 ~ {p99[0].value * 1000:.0f} ms")
        except PrometheusError as e:
            return _error(name, e)
        return Check.compare(
            name=name,
            value=1 - ratio,
            threshold=objective.target,
            comparator=">=",
            unit="ratio",
            query=query,
            detail="; ".join(d for d in details if d),
        )

    def _per_region(
        self, prom: _Prometheus, objective: Objective, window: TimeWindow
    ) -> list[Check]:
        source = objective.indicator.per_region
        if source is None:
            return []
        label = self.spec.region_label
        query = objective.error_ratio(source, window.range, (label,), True)
        name = f"{objective.name} per region"
        try:
            samples = prom.instant(query, window.end)
        except PrometheusError as e:
            return [_error(name, e, query)]
        if not samples:
            return [
                Check(name=name, status=CheckStatus.ERROR, threshold=objective.target,
                      comparator=">=", unit="ratio", query=query,
                      detail=f"no per-region data in the window ({source.source})")
            ]
        checks = []
        for sample in sorted(samples, key=lambda s: s.labels.get(label, "")):
            region = sample.labels.get(label, "?")
            region_name = f"{objective.name} region {region}"
            if math.isnan(sample.value):
                # The region exports the metric but served nothing in the window (a standby
                # behind the router): there is nothing to judge; the overall check judges.
                checks.append(Check(name=region_name, status=CheckStatus.NOT_EVALUATED,
                                    threshold=objective.target, comparator=">=", unit="ratio",
                                    query=query, detail="no requests in the window"))
            else:
                checks.append(Check.compare(name=region_name, value=1 - sample.value,
                                            threshold=objective.target, comparator=">=",
                                            unit="ratio", query=query))
        return checks

    def _budget(
        self, prom: _Prometheus, objective: Objective, profile: Profile, window: TimeWindow
    ) -> Check:
        name = f"{objective.name} error budget remaining"
        period = profile.window(self.spec.period)
        try:
            found = self._first_with_data(prom, objective, period, window.end)
        except PrometheusError as e:
            return _error(name, e)
        if found is None:
            return Check(name=name, status=CheckStatus.ERROR, threshold=0.0, comparator=">=",
                         unit="ratio", query=objective.overall_error_ratio(period, True),
                         detail=f"no data over the SLO period ({period}) ending with the window")
        _, ratio, query = found
        return Check.compare(
            name=name,
            value=1 - ratio / objective.budget,
            threshold=0.0,
            comparator=">=",
            unit="ratio",
            query=query,
            detail=f"share of the {period} budget ({objective.budget:.3%} errors) left",
        )

    def _client_view(
        self, prom: _Prometheus, objective: Objective, request: GateRequest
    ) -> Check | None:
        source = objective.indicator.client
        if source is None:
            return None
        name = f"{objective.name} client view"
        window = request.window
        query = objective.error_ratio(source, window.range, (), True)
        try:
            found = _finite(prom.instant(query, window.end))
        except PrometheusError as e:
            return _error(name, e, query)
        if not found:
            missing = f"no client-side data ({source.source} metrics) in the window"
            return Check(
                name=name,
                status=CheckStatus.ERROR if request.require_client else CheckStatus.NOT_EVALUATED,
                threshold=objective.target,
                comparator=">=",
                unit="ratio",
                query=query,
                detail=missing,
            )
        return Check.compare(name=name, value=1 - found[0].value, threshold=objective.target,
                             comparator=">=", unit="ratio", query=query)

    def _replication_lag(self, prom: _Prometheus, request: GateRequest) -> Check:
        name = "replication lag"
        limit = self.spec.gate.max_replication_lag
        window = request.window
        query = f"max(max_over_time({REPLICATION_LAG_METRIC}[{window.range}]))"
        try:
            found = prom.instant(query, window.end)
        except PrometheusError as e:
            return _error(name, e, query)
        if not found:
            required = request.failover is not None
            return Check(
                name=name,
                status=CheckStatus.ERROR if required else CheckStatus.NOT_EVALUATED,
                threshold=limit,
                comparator="<=",
                unit="s",
                query=query,
                detail="no replication lag reported in the window"
                + (" (required with a failover result)" if required else ""),
            )
        return Check.compare(name=name, value=found[0].value, threshold=limit, comparator="<=",
                             unit="s", query=query, detail="worst lag of any region")

    # -- baseline comparison ------------------------------------------------------------

    def _comparisons(
        self, prom: _Prometheus, step: float, window: TimeWindow, baseline: TimeWindow
    ) -> list[Check]:
        checks = []
        # One sample per step over a range of exactly one step: the samples do not overlap,
        # as the test's independence assumption wants (autocorrelated samples overstate
        # significance). A step must span several scrapes, or rate() has nothing to say
        # (then too few samples remain and the comparison errs rather than passes).
        rng = format_duration(step)
        for objective in self.spec.objectives.values():
            sources = [s for s in objective.indicator.overall if isinstance(s, LatencySource)]
            if not sources:
                continue
            for label, build in (
                ("mean", lambda s: s.mean(rng)),
                ("p99", lambda s: s.quantile(0.99, rng)),
            ):
                name = f"{objective.name} regression ({label})"
                try:
                    checks.append(self._compare(prom, name, sources, build, window, baseline,
                                                step))
                except PrometheusError as e:
                    checks.append(_error(name, e))
        return checks

    def _compare(
        self,
        prom: _Prometheus,
        name: str,
        sources: list[LatencySource],
        build: Callable[[LatencySource], str],
        window: TimeWindow,
        baseline: TimeWindow,
        step: float,
    ) -> Check:
        policy = self.spec.gate.comparison
        query = build(sources[0])
        for source in sources:
            query = build(source)
            w = self._samples(prom, query, window, step)
            if w:
                b = self._samples(prom, query, baseline, step)
                check, _ = compare_samples(name=name, window=w, baseline=b, policy=policy,
                                           query=query)
                return check
        check, _ = compare_samples(name=name, window=[], baseline=[], policy=policy, query=query)
        return check

    @staticmethod
    def _samples(prom: _Prometheus, query: str, window: TimeWindow, step: float) -> list[float]:
        start = window.start + step  # the first sample's range must lie inside the window
        if start >= window.end:
            return []
        values: list[float] = []
        for series in prom.range(query, start=start, end=window.end, step=step):
            values += [v for v in series if math.isfinite(v)]
        return values
