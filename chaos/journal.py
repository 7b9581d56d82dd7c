"""The run journal: what a run did and saw, as data (``RunResult``) and as a JSON file.

The load report and the SLA gate read the actions' wall-clock ``started``/``ended`` stamps
(ISO 8601 and epoch seconds) to mark fault windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chaos.atomic import write_json_atomic
from chaos.probes import ProbeResult
from chaos.rollback import RollbackResult
from chaos.scenario import Phase
from chaos.timestamps import Stamp, now_stamp

__all__ = ["ActionEntry", "HypothesisCheck", "RunResult", "RunStatus", "Verdict"]


class RunStatus(StrEnum):
    RUNNING = "running"  # not finished: a journal left like this is a killed run's
    COMPLETED = "completed"  # the hypothesis held before, during and after
    DEVIATED = "deviated"  # it failed during or after: a finding
    ABORTED = "aborted"  # it failed before: no fault was applied
    FAILED = "failed"  # an error (a probe, the API, the deployment) ended the run
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM ended the run


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_CHECKED = "not_checked"


@dataclass(slots=True)
class ActionEntry:
    """One method step (or explicit rollback) as executed; ``offset_s`` is the plan's."""

    index: int
    action: str
    targets: list[str]
    offset_s: float
    started: Stamp
    ended: Stamp | None = None
    ok: bool = False
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "action": self.action,
            "targets": self.targets,
            "offset_s": round(self.offset_s, 3),
            "started": self.started,
            "ended": self.ended,
            "ok": self.ok,
            "error": self.error,
            "detail": self.detail,
        }


@dataclass(slots=True)
class HypothesisCheck:
    phase: Phase
    at: Stamp
    ok: bool
    probes: list[ProbeResult]

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": str(self.phase),
            "at": self.at,
            "ok": self.ok,
            "probes": [p.as_json() for p in self.probes],
        }


@dataclass(slots=True)
class RunResult:
    """Everything about one run; ``status`` and ``rollback.ok`` decide the exit code."""

    run_id: str
    scenario: str
    title: str
    models: str
    toxiproxy_url: str
    time_scale: float
    status: RunStatus = RunStatus.RUNNING
    started: Stamp = field(default_factory=now_stamp)
    method_started: Stamp | None = None
    ended: Stamp | None = None
    actions: list[ActionEntry] = field(default_factory=list)
    checks: list[HypothesisCheck] = field(default_factory=list)
    rollback: RollbackResult | None = None
    explicit_rollbacks: list[ActionEntry] = field(default_factory=list)
    error: str | None = None

    def verdict(self, phase: Phase) -> Verdict:
        checks = [c for c in self.checks if c.phase == phase]
        if not checks:
            return Verdict.NOT_CHECKED
        if phase == Phase.AFTER:
            return Verdict.PASSED if checks[-1].ok else Verdict.FAILED
        return Verdict.PASSED if all(c.ok for c in checks) else Verdict.FAILED

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "chartguard.chaos.journal",
            "version": 1,
            "run_id": self.run_id,
            "scenario": self.scenario,
            "title": self.title,
            "models": self.models,
            "toxiproxy_url": self.toxiproxy_url,
            "time_scale": self.time_scale,
            "status": str(self.status),
            "started": self.started,
            "method_started": self.method_started,
            "ended": self.ended,
            "hypothesis": {str(p): str(self.verdict(p)) for p in Phase},
            "actions": [a.as_json() for a in self.actions],
            "checks": [c.as_json() for c in self.checks],
            "rollback": self.rollback.as_json() if self.rollback else None,
            "explicit_rollbacks": [a.as_json() for a in self.explicit_rollbacks],
            "error": self.error,
        }

    def write(self, path: Path) -> None:
        write_json_atomic(path, self.as_json())
