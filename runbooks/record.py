"""What one rehearsal (or migration) run produced, gathered for the report.

Every other package writes its own JSON (load summary, ledger verify result, chaos
journal, gate result); runbooks gathers the parts the report shows into one
:class:`RunRecord`, which is also written as JSON beside the report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Series:
    """One line on a chart: epoch seconds and values (NaN where there was no sample)."""

    label: str
    times: list[float]
    values: list[float]


@dataclass(frozen=True)
class Window:
    """A shaded span on every chart: a fault (chaos) or a migration step."""

    start: float
    end: float
    label: str
    kind: str = "fault"  # fault | step


@dataclass(frozen=True)
class GateRow:
    check: str
    status: str  # pass | fail | not_evaluated | error
    value: str
    threshold: str
    detail: str = ""


@dataclass
class RunRecord:
    title: str
    verdict: str  # pass | fail | error
    reason: str
    started: float
    ended: float
    charts: dict[str, list[Series]] = field(default_factory=dict)  # chart title -> lines
    windows: list[Window] = field(default_factory=list)
    gate: list[GateRow] = field(default_factory=list)
    ledger: dict[str, int] = field(default_factory=dict)  # acknowledged, lost, corrupted, ...
    timings: dict[str, float | None] = field(default_factory=dict)  # rto, rpo, notice latency
    steps: list[dict[str, Any]] = field(default_factory=list)  # playbook tasks with timings
    versions: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    #: What the practices saw (the load generator's own checks over the surge):
    #: ``verdict``, ``requests``, ``failures`` and ``checks`` (name, ok, observed, limit).
    client: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        raw = json.loads(text)
        raw["charts"] = {k: [Series(**s) for s in v] for k, v in raw.get("charts", {}).items()}
        raw["windows"] = [Window(**w) for w in raw.get("windows", [])]
        raw["gate"] = [GateRow(**g) for g in raw.get("gate", [])]
        return cls(**raw)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
