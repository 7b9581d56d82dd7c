"""Deciding a run: thresholds, "full scale means it", and who was the bottleneck.

A run passes only when every threshold holds *and* the achieved request rate in the shape's
measured window reached ``min_achieved_ratio`` of its target. When the rate fell short
because the load generator could not produce it (its CPU saturated, or not all users were
running while the EHR answered well), the verdict is ``generator-bottleneck``: the system
was not shown to hold the load, and the generator was not shown to break it. A run without
requests is ``no-data``, never a pass; so is a run whose measured window is too short
for its paced requests to show the rate within the tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loadtests.profile import EndpointClass, Thresholds
from loadtests.timeline import WindowStats

__all__ = [
    "CPU_SATURATED_PERCENT",
    "Check",
    "GeneratorHealth",
    "Judgement",
    "Verdict",
    "judge",
    "latency_checks",
]

# Mean CPU of a generator process above this during the measured window: it was the limit.
CPU_SATURATED_PERCENT = 90.0


class Verdict(StrEnum):
    passed = "pass"
    failed = "fail"
    generator_bottleneck = "generator-bottleneck"
    no_data = "no-data"

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1, "generator-bottleneck": 3, "no-data": 4}[self.value]


@dataclass(frozen=True)
class Check:
    """One threshold: what was observed against its limit."""

    name: str
    ok: bool
    observed: float | None
    limit: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "observed": None if self.observed is None else round(self.observed, 4),
            "limit": self.limit,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GeneratorHealth:
    """What the generator knew about itself during the measured window."""

    cpu_mean_percent: float
    cpu_max_percent: float
    users_min: int
    target_users: int

    @property
    def cpu_saturated(self) -> bool:
        return self.cpu_mean_percent >= CPU_SATURATED_PERCENT

    @property
    def users_short(self) -> bool:
        return self.users_min < self.target_users


@dataclass
class Judgement:
    verdict: Verdict
    checks: list[Check] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "exit_code": self.verdict.exit_code,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
        }


def latency_checks(thresholds: Thresholds, window: WindowStats) -> list[Check]:
    """p95/p99 per endpoint class; a class without requests is not judged."""
    checks = []
    for endpoint_class in EndpointClass:
        limit = thresholds.latency_ms.get(endpoint_class)
        if limit is None:
            continue
        for label, fraction, bound in (
            ("p95", 0.95, limit.p95_ms),
            ("p99", 0.99, limit.p99_ms),
        ):
            observed = window.percentile(fraction, endpoint_class.value)
            if bound is None or observed is None:
                continue
            checks.append(
                Check(
                    name=f"{endpoint_class.value}.{label}_ms",
                    ok=observed <= bound,
                    observed=observed,
                    limit=bound,
                )
            )
    return checks


def error_check(thresholds: Thresholds, window: WindowStats) -> Check:
    return Check(
        name="error_rate",
        ok=window.error_rate <= thresholds.max_error_rate,
        observed=window.error_rate,
        limit=thresholds.max_error_rate,
        detail=f"{window.failures} of {window.requests} requests failed",
    )


def judge(
    *,
    thresholds: Thresholds,
    run: WindowStats,
    measured: WindowStats | None,
    target_rate: float | None,
    generator: GeneratorHealth | None,
) -> Judgement:
    """The verdict of a run.

    ``run`` covers the whole run (error rate and latency); ``measured`` is the shape's
    measured window and ``target_rate`` its expected request rate (both None for shapes
    judged otherwise, e.g. step-capacity, whose caller adds its own checks).
    """
    if run.requests == 0:
        return Judgement(Verdict.no_data, reasons=["no requests were made: no data is no pass"])
    checks = [error_check(thresholds, run), *latency_checks(thresholds, run)]
    service_ok = all(c.ok for c in checks)
    reasons = [f"{c.name} {c.observed} > {c.limit}" for c in checks if not c.ok]

    if target_rate is not None:
        if measured is None or measured.requests == 0 or measured.seconds <= 0:
            return Judgement(
                Verdict.no_data,
                checks,
                ["the run never reached its measured (peak) window: no data is no pass"],
            )
        unjudgeable = _too_short(thresholds, measured, target_rate, generator)
        if unjudgeable and service_ok:
            return Judgement(Verdict.no_data, checks, [unjudgeable])
        ratio = measured.rate / target_rate if target_rate > 0 else 0.0
        rate_check = Check(
            name="achieved_rate_ratio",
            ok=ratio >= thresholds.min_achieved_ratio,
            observed=ratio,
            limit=thresholds.min_achieved_ratio,
            detail=f"{measured.rate:.2f} of {target_rate:.2f} requests/s in the measured window",
        )
        checks.append(rate_check)
        if not rate_check.ok:
            reasons.append(
                f"achieved {measured.rate:.2f} requests/s, {ratio:.1%} of the target "
                f"{target_rate:.2f} (needs {thresholds.min_achieved_ratio:.0%})"
            )
            bottleneck = _generator_limits(generator, service_ok)
            if bottleneck:
                return Judgement(Verdict.generator_bottleneck, checks, reasons + bottleneck)
    verdict = Verdict.passed if all(c.ok for c in checks) else Verdict.failed
    return Judgement(verdict, checks, reasons)


def _too_short(
    thresholds: Thresholds,
    measured: WindowStats,
    target_rate: float,
    generator: GeneratorHealth | None,
) -> str | None:
    """Why the measured window holds too few requests to judge the rate; None if enough.

    Each person's count in a window is off by its phase, about sqrt(1/5) requests (paced
    clicks with jittered think times), so N people's total is off by about sqrt(N/5). The
    rate can be judged only when that is under a third of the tolerance (1 - min ratio).
    """
    if generator is None or generator.target_users <= 0:
        return None
    expected = target_rate * measured.seconds
    noise = math.sqrt(generator.target_users / 5.0) / max(expected, 1e-9)
    if noise <= (1.0 - thresholds.min_achieved_ratio) / 3.0:
        return None
    return (
        f"the measured window ({measured.seconds:.0f} s, about {expected:.0f} requests from "
        f"{generator.target_users} people) is too short to judge the rate within "
        f"{1 - thresholds.min_achieved_ratio:.0%}: hold the peak longer (a lower "
        f"--time-scale or a longer --duration) or simulate more people"
    )


def _generator_limits(generator: GeneratorHealth | None, service_ok: bool) -> list[str]:
    """Why the generator (not the system) was the limit; empty if it was not."""
    why = []
    if generator is not None and generator.cpu_saturated:
        why.append(
            f"the load generator was the bottleneck: its CPU averaged "
            f"{generator.cpu_mean_percent:.0f}% in the measured window (add --workers)"
        )
    if generator is not None and generator.users_short and service_ok:
        why.append(
            f"the load generator was the bottleneck: only {generator.users_min} of "
            f"{generator.target_users} users were running while the EHR answered within thresholds"
        )
    if not why and service_ok:
        why.append(
            "the load generator was the bottleneck: the EHR answered within every threshold, "
            "so the missing rate was not the system's doing"
        )
    return why
