"""The AWS cutover: shift traffic by Route 53 weights, promote the RDS replica, flip failover.

The same steps as the local migration, against real AWS APIs (or moto's server in tests).
Each step is timed and recorded; a failed gate before promotion restores the previous
weights and failover roles. After promotion there is no way back to the old writer
without rebuilding it, so a gate failing then is reported, not undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from runbooks.aws.rds import promote_replica
from runbooks.aws.route53 import RecordRef, health_check_healthy, set_failover_primary, set_weights
from runbooks.errors import GateFailed, PrecheckFailed, RunbookError

Gate = Callable[[str], None]
"""Called after each step with the step's name; raises GateFailed to stop the cutover."""


@dataclass
class StepRecord:
    name: str
    started: float
    ended: float
    ok: bool
    detail: str = ""


@dataclass
class AwsCutoverResult:
    status: str = "pending"  # passed | failed | rolled_back
    steps: list[StepRecord] = field(default_factory=list)
    failed_gate: str | None = None
    error: str | None = None
    write_unavailable_seconds: float | None = None


def _no_gate(_step: str) -> None:
    return None


@dataclass(kw_only=True)
class AwsCutover:
    """Moves the EHR's traffic and primary database from one AWS region to another."""

    route53: Any
    rds: Any
    source: str  # SetIdentifier of the region traffic leaves (weighted and failover records)
    target: str  # SetIdentifier of the region traffic moves to
    weighted: RecordRef | None = None
    failover: RecordRef | None = None
    target_health_check: str | None = None
    replica_id: str = ""
    rds_in_target_region: Any = None
    steps_percent: Sequence[int] = (10, 50, 100)
    gate: Gate = _no_gate
    wait_seconds: int = 1800

    def run(self) -> AwsCutoverResult:
        result = AwsCutoverResult()
        undo: list[Callable[[], object]] = []
        promoted = False
        try:
            self._step(result, "precheck", self._precheck)
            if self.weighted is not None:
                ref = self.weighted
                for i, pct in enumerate(self.steps_percent):
                    old = self._step(
                        result,
                        f"shift {pct}%",
                        partial(
                            set_weights,
                            self.route53,
                            ref,
                            {self.source: 100 - pct, self.target: pct},
                        ),
                    )
                    if i == 0:  # the weights before the first shift are the last good state
                        undo.append(partial(set_weights, self.route53, ref, old))
                    self.gate(f"shift {pct}%")
            cut_started = time.time()
            rds_client = self.rds_in_target_region or self.rds
            wait = self.wait_seconds
            self._step(
                result,
                "promote replica",
                lambda: promote_replica(rds_client, self.replica_id, wait_seconds=wait),
            )
            promoted = True
            if self.failover is not None:
                fo = self.failover
                old_primary = self._step(
                    result,
                    "failover record",
                    lambda: set_failover_primary(self.route53, fo, self.target),
                )
                undo.append(lambda: set_failover_primary(self.route53, fo, old_primary))
            result.write_unavailable_seconds = time.time() - cut_started
            self.gate("cutover")
            result.status = "passed"
        except GateFailed as e:
            result.failed_gate, result.error = e.gate, str(e)
            result.status = self._roll_back(result, undo, promoted)
        except RunbookError as e:
            result.error = str(e)
            result.status = self._roll_back(result, undo, promoted)
        return result

    def _precheck(self) -> None:
        if not self.replica_id:
            raise PrecheckFailed("replica_id is required")
        if self.target_health_check and not health_check_healthy(
            self.route53, self.target_health_check
        ):
            raise PrecheckFailed(f"target health check {self.target_health_check} is not healthy")

    def _step(self, result: AwsCutoverResult, name: str, fn: Callable[[], Any]) -> Any:
        started = time.time()
        try:
            value = fn()
        except RunbookError as e:
            result.steps.append(StepRecord(name, started, time.time(), False, str(e)))
            raise
        result.steps.append(StepRecord(name, started, time.time(), True))
        return value

    def _roll_back(
        self, result: AwsCutoverResult, undo: list[Callable[[], object]], promoted: bool
    ) -> str:
        if promoted:
            # The old writer cannot be made primary again without a rebuild: say so.
            result.error = f"{result.error}; replica already promoted, not rolled back"
            return "failed"
        for fn in reversed(undo):
            self._step(result, "rollback", fn)
        return "rolled_back"
