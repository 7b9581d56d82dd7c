"""Step-capacity bookkeeping: judge each step, find the knee.

Each step of the ``step-capacity`` shape holds a number of users; the step *holds* when,
over its settled part, the error rate and every latency threshold (but the logins') held
and the achieved rate reached ``min_achieved_ratio`` of the rate those users should make.
The knee is the last step that held before the first that did not. A step lost to the
generator's own CPU is reported as such: the knee is then a floor, not the system's
capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtests.profile import Thresholds
from loadtests.timeline import WindowStats
from loadtests.verdict import CPU_SATURATED_PERCENT, error_check, latency_checks

__all__ = ["StepCapacity", "StepResult"]


@dataclass(frozen=True)
class StepResult:
    step: str
    users: int
    target_rate: float
    rate: float
    error_rate: float
    p99_ms: float | None
    held: bool
    generator_limited: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "users": self.users,
            "target_rate_rps": round(self.target_rate, 3),
            "rate_rps": round(self.rate, 3),
            "error_rate": round(self.error_rate, 6),
            "p99_ms": self.p99_ms,
            "held": self.held,
            "generator_limited": self.generator_limited,
            "reasons": list(self.reasons),
        }


@dataclass
class StepCapacity:
    """Collects step results; :attr:`broken` turns true at the first step that did not hold."""

    thresholds: Thresholds
    steps: list[StepResult] = field(default_factory=list)

    def record(
        self, step: str, *, users: int, target_rate: float, window: WindowStats
    ) -> StepResult:
        # Logins are not judged: each step's new people log in at its start, by design.
        checks = [
            error_check(self.thresholds, window),
            *(c for c in latency_checks(self.thresholds, window) if not c.name.startswith("auth.")),
        ]
        reasons = [f"{c.name} {c.observed} > {c.limit}" for c in checks if not c.ok]
        ratio = window.rate / target_rate if target_rate > 0 else 0.0
        if window.requests == 0:
            reasons.append("no requests in the step")
        elif ratio < self.thresholds.min_achieved_ratio:
            reasons.append(f"achieved {window.rate:.2f} of {target_rate:.2f} requests/s")
        generator_limited = bool(reasons) and window.cpu_mean >= CPU_SATURATED_PERCENT
        result = StepResult(
            step=step,
            users=users,
            target_rate=target_rate,
            rate=window.rate,
            error_rate=window.error_rate,
            p99_ms=window.percentile(0.99),
            held=not reasons,
            generator_limited=generator_limited,
            reasons=tuple(reasons),
        )
        self.steps.append(result)
        return result

    @property
    def broken(self) -> bool:
        return any(not s.held for s in self.steps)

    @property
    def knee(self) -> StepResult | None:
        """The last step that held before the first that broke (or the last step run)."""
        knee = None
        for step in self.steps:
            if not step.held:
                break
            knee = step
        return knee

    def to_dict(self) -> dict[str, Any]:
        knee = self.knee
        broke = next((s for s in self.steps if not s.held), None)
        return {
            "knee": None
            if knee is None
            else {"step": knee.step, "users": knee.users, "rate_rps": round(knee.rate, 3)},
            "broke_at": None if broke is None else broke.step,
            "generator_limited": bool(broke and broke.generator_limited),
            "steps": [s.to_dict() for s in self.steps],
        }
