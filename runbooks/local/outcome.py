"""What a cutover did, as data: every step with its timing and the measured numbers."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["CutoverResult", "CutoverStatus", "StepRecord", "StepStatus"]


class StepStatus(StrEnum):
    PLANNED = "planned"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class CutoverStatus(StrEnum):
    PLANNED = "planned"  # --dry-run
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"  # a gate failed; the previous primary serves again
    FAILED = "failed"  # could not finish nor roll back: needs an operator (detail says why)


@dataclass
class StepRecord:
    name: str
    status: StepStatus
    started: float
    ended: float | None = None
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class CutoverResult:
    """The outcome of ``migrate``, ``failover`` or ``rollback``.

    ``write_unavailable_s`` is the time from the first step that stops writes to the
    new primary accepting them, measured by the runbook; ``rto_s`` and ``lost_writes``
    come from the write probe when one ran (the user's view at the router).
    """

    kind: str
    source: str
    target: str
    status: CutoverStatus
    started: float = field(default_factory=time.time)
    ended: float | None = None
    steps: list[StepRecord] = field(default_factory=list)
    failed_gate: str | None = None
    reason: str = ""
    write_unavailable_s: float | None = None
    rto_s: float | None = None
    rpo_writes: int | None = None
    acknowledged_writes: int | None = None
    lost_writes: int | None = None
    notice_latency_s: float | None = None
    kept_data_dir: str | None = None
    rollback: CutoverResult | None = None
    #: Why the SLO gate was skipped, when it was on purpose (``--no-gate``, a failover).
    gate_skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (CutoverStatus.SUCCEEDED, CutoverStatus.PLANNED)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind_of_record"] = "chartguard.cutover"
        for step, raw in zip(self.steps, data["steps"], strict=True):
            raw["seconds"] = step.seconds
        return data
