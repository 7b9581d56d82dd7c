"""The gate's results as data: one :class:`Check` per question, a :class:`GateResult`.

A check that could not be answered (no data, an empty result, a NaN, a Prometheus error,
an unreadable input) is ``error``, never ``pass``. ``not_evaluated`` is reserved for
optional views that are simply absent (no load-generator metrics when they were not
required). The outcome: ``fail`` if any check failed, else ``error`` if any could not be
evaluated (or nothing at all passed), else ``pass``; exit codes 1, 2 and 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitoring.gate.window import TimeWindow

__all__ = ["CheckStatus", "Outcome", "Check", "GateResult"]


class CheckStatus(StrEnum):
    """The answer to one check (values as in the run record's gate rows)."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # could not be evaluated: never a pass
    NOT_EVALUATED = "not_evaluated"  # optional and absent


class Outcome(StrEnum):
    """The gate's verdict and its exit code."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.ERROR: 2}[self]


@dataclass(frozen=True, kw_only=True)
class Check:
    """One gate check: what was asked, what was measured, against what, and how."""

    name: str
    status: CheckStatus
    value: float | None = None
    threshold: float | None = None
    comparator: str = ""  # ">=" or "<=": how value must relate to threshold to pass
    unit: str = ""  # "ratio", "s", "writes", ...
    query: str | None = None
    detail: str = ""

    @classmethod
    def compare(
        cls,
        *,
        name: str,
        value: float | None,
        threshold: float,
        comparator: str,
        unit: str = "",
        query: str | None = None,
        detail: str = "",
    ) -> Check:
        """A check whose status follows from ``value comparator threshold``.

        A missing or non-finite value is ``error`` (could not evaluate), whatever the
        comparison would say.
        """
        if value is None or not math.isfinite(value):
            why = "no value" if value is None else f"value is {value}"
            return cls(
                name=name,
                status=CheckStatus.ERROR,
                value=value,
                threshold=threshold,
                comparator=comparator,
                unit=unit,
                query=query,
                detail=f"{why}: could not evaluate" + (f"; {detail}" if detail else ""),
            )
        if comparator == ">=":
            ok = value >= threshold
        elif comparator == "<=":
            ok = value <= threshold
        else:
            raise ValueError(f"unknown comparator {comparator!r}")
        return cls(
            name=name,
            status=CheckStatus.PASS if ok else CheckStatus.FAIL,
            value=value,
            threshold=threshold,
            comparator=comparator,
            unit=unit,
            query=query,
            detail=detail,
        )

    def to_dict(self) -> dict[str, Any]:
        finite = self.value is not None and math.isfinite(self.value)
        return {
            "check": self.name,
            "status": self.status.value,
            "value": self.value if finite else None,
            "threshold": self.threshold,
            "comparator": self.comparator,
            "unit": self.unit,
            "query": self.query,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True)
class GateResult:
    """Everything one gate evaluation found."""

    window: TimeWindow
    baseline: TimeWindow | None
    profile: str
    prometheus_url: str
    checks: list[Check] = field(default_factory=list)
    evaluated_at: float = 0.0

    @property
    def outcome(self) -> Outcome:
        statuses = {c.status for c in self.checks}
        if CheckStatus.FAIL in statuses:
            return Outcome.FAIL
        if CheckStatus.ERROR in statuses or CheckStatus.PASS not in statuses:
            return Outcome.ERROR
        return Outcome.PASS

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def by_status(self, status: CheckStatus) -> list[Check]:
        return [c for c in self.checks if c.status is status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "chartguard.gate",
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "profile": self.profile,
            "prometheus": self.prometheus_url,
            "window": self.window.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "evaluated_at": self.evaluated_at,
            "counts": {s.value: len(self.by_status(s)) for s in CheckStatus},
            "checks": [c.to_dict() for c in self.checks],
        }
