"""A run's results as data, JSON and CSV (the files the gate and the report read).

``summary.json`` holds the profile, shape, totals, per-endpoint stats, the measured window,
fault windows, the step-capacity knee, the ledger counts and the verdict with every check;
``endpoints.csv`` has one row per endpoint plus a ``Total`` row.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.faults import FaultWindow
from loadtests.timeline import Timeline, WindowStats
from loadtests.verdict import Judgement

__all__ = ["EndpointStats", "RunSummary"]

CSV_COLUMNS = (
    "endpoint",
    "class",
    "requests",
    "failures",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "avg_ms",
    "max_ms",
)


@dataclass(frozen=True)
class EndpointStats:
    """Whole-run stats of one endpoint (or ``Total``)."""

    name: str
    endpoint_class: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    avg_ms: float | None
    max_ms: float | None

    def row(self) -> dict[str, Any]:
        return {
            "endpoint": self.name,
            "class": self.endpoint_class,
            "requests": self.requests,
            "failures": self.failures,
            "rps": round(self.rps, 3),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "avg_ms": None if self.avg_ms is None else round(self.avg_ms, 2),
            "max_ms": self.max_ms,
        }


@dataclass
class RunSummary:
    """Everything a run produced; :meth:`write` stores ``summary.json`` and ``endpoints.csv``."""

    profile: dict[str, Any]
    shape: str
    target: str
    time_scale: float
    workers: int
    started_epoch: float
    seconds: float
    total: EndpointStats
    endpoints: list[EndpointStats]
    judgement: Judgement
    target_rate: float | None = None
    measured: WindowStats | None = None
    capacity: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    generator: dict[str, Any] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    metrics_url: str | None = None
    # Failure messages by endpoint (our own short texts: status and error code, no PHI).
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return self.judgement.verdict.value

    @property
    def exit_code(self) -> int:
        return self.judgement.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        achieved = None if self.measured is None else round(self.measured.rate, 3)
        return {
            "kind": "chartguard.load.summary",
            "version": 1,
            **self.judgement.to_dict(),
            "profile": self.profile,
            "shape": self.shape,
            "target": self.target,
            "time_scale": self.time_scale,
            "workers": self.workers,
            "started_epoch": round(self.started_epoch, 3),
            "seconds": round(self.seconds, 3),
            "target_rate_rps": None if self.target_rate is None else round(self.target_rate, 3),
            "achieved_rate_rps": achieved,
            "measured_window": None if self.measured is None else self.measured.to_dict(),
            "total": self.total.row(),
            "endpoints": [e.row() for e in self.endpoints],
            "capacity": self.capacity,
            "ledger": self.ledger,
            "fault_windows": self.faults,
            "generator": self.generator,
            "metrics_url": self.metrics_url,
            "errors": self.errors,
            "timeline": self.timeline,
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``summary.json`` and ``endpoints.csv`` into ``out_dir`` (atomically)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        summary_path = out / "summary.json"
        tmp = summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, summary_path)
        csv_path = out / "endpoints.csv"
        tmp = csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for endpoint in [*self.endpoints, self.total]:
                writer.writerow(endpoint.row())
        os.replace(tmp, csv_path)
        return summary_path, csv_path


def fault_window_stats(
    timeline: Timeline, windows: list[FaultWindow], started_epoch: float
) -> list[dict[str, Any]]:
    """Each fault window with the run's stats inside it (times relative to the run start)."""
    marked = []
    for window in windows:
        start = window.start - started_epoch
        end = window.end - started_epoch
        inside = timeline.window(start, end) if end > 0 and start < timeline.end else None
        marked.append(
            {
                **window.to_dict(),
                "start_s": round(start, 3),
                "end_s": round(end, 3),
                "during_run": inside is not None,
                "stats": None if inside is None else inside.to_dict(),
            }
        )
    return marked


def compact_timeline(timeline: Timeline) -> list[dict[str, Any]]:
    """Per-sample users, request rate and failures (for plots in the report)."""
    return [
        {
            "t": round(s.t, 2),
            "users": s.users,
            "target_users": s.target_users,
            "rps": round(s.requests / s.interval, 2) if s.interval > 0 else 0.0,
            "failures": s.failures,
            "cpu_percent": round(s.cpu_percent, 1),
        }
        for s in timeline.samples
    ]
