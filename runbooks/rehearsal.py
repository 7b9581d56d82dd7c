"""The rehearsal: options for ``runbooks/rehearse.yml`` and the record it leaves behind.

The playbook writes every part into one output folder (``RehearsalFiles``): the load
summaries and ledger, the chaos journal, the migration outcome, the ledger verify
result and the gate result. :func:`compose_record` reads them back (whatever exists:
a step that failed leaves its file out, and the record says so), adds charts from
Prometheus over the whole run, and decides the verdict: pass only if every part
that must exist exists and passed.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.errors import RunbookError
from runbooks.playbook import PlaybookResult
from runbooks.record import GateRow, RunRecord, Series, Window

__all__ = [
    "chart_queries",
    "RehearsalFiles",
    "RehearsalOptions",
    "compose_record",
    "with_playbook",
]


@dataclass(frozen=True, kw_only=True)
class RehearsalOptions:
    """Durations of the rehearsal's phases (real seconds); ``quick()`` for CI."""

    baseline_s: int = 90
    surge_s: int = 300
    migrate_after_s: int = 60
    source: str = "east"
    target: str = "west"
    keep: bool = False
    up: bool = True
    scenario: str = "bgp-brownout"
    #: The baseline: the surge's peak, held, with no fault and no migration, so the gate
    #: compares like with like (an ordinary day's load would make any peak look slow).
    baseline_shape: str = "steady-peak"
    scenario_nominal_s: int = 600
    #: Seconds per latency sample when the gate compares the surge with the baseline
    #: (several of the local stack's 1 s scrapes; the gate needs 8 samples of each).
    gate_step_s: int = 5
    profile: Path = Path(__file__).resolve().parent / "profiles" / "rehearsal.yaml"

    def __post_init__(self) -> None:
        if self.baseline_s < 10 or self.surge_s < 30:
            raise RunbookError("rehearsal: baseline needs >= 10 s and the surge >= 30 s")
        if not 0 <= self.migrate_after_s < self.surge_s:
            raise RunbookError("rehearsal: the migration must start during the surge "
                               f"(0 <= migrate_after_s < {self.surge_s})")
        if self.baseline_s < 8 * self.gate_step_s + self.gate_step_s:
            raise RunbookError(f"rehearsal: a {self.baseline_s} s baseline holds fewer than the "
                               f"8 latency samples of {self.gate_step_s} s the gate compares")
        if self.source == self.target:
            raise RunbookError(f"rehearsal: source and target are both {self.source!r}")

    @classmethod
    def quick(cls, **changes: Any) -> RehearsalOptions:
        quick_profile = Path(__file__).resolve().parent / "profiles" / "rehearsal-quick.yaml"
        return cls(**{"baseline_s": 45, "surge_s": 90, "migrate_after_s": 20,
                      "gate_step_s": 4, "profile": quick_profile, **changes})

    def extravars(self, out_dir: Path) -> dict[str, Any]:
        return {
            "out": str(out_dir),
            "baseline_s": self.baseline_s,
            "surge_s": self.surge_s,
            "migrate_after_s": self.migrate_after_s,
            "source": self.source,
            "target": self.target,
            "keep": self.keep,
            "bring_up": self.up,
            "scenario": self.scenario,
            "baseline_shape": self.baseline_shape,
            "gate_step": self.gate_step_s,
            "profile": str(self.profile),
            # Nominal scenario seconds per real second, so the scenario spans the surge.
            "chaos_time_scale": round(self.scenario_nominal_s / self.surge_s, 4),
        }


@dataclass(frozen=True)
class RehearsalFiles:
    """Where each part of a rehearsal is written (the playbook uses the same names)."""

    out: Path

    @property
    def times(self) -> Path:
        return self.out / "times.json"

    @property
    def ledger(self) -> Path:
        return self.out / "ledger.jsonl"

    @property
    def verify(self) -> Path:
        return self.out / "verify.json"

    @property
    def gate(self) -> Path:
        return self.out / "gate.json"

    @property
    def migration(self) -> Path:
        return self.out / "migration.json"

    @property
    def journal(self) -> Path:
        return self.out / "chaos-journal.json"

    @property
    def surge_summary(self) -> Path:
        return self.out / "surge" / "summary.json"


#: Chart title -> [(line label, PromQL)]: the edge as users see it, plus the database.
def chart_queries() -> dict[str, list[tuple[str, str]]]:
    """Chart title -> (line label, PromQL) for the report; latency and budget as the SLOs
    define them (``monitoring/slo.yaml``), so the charts show what the gate judges."""
    from monitoring.rules import BUDGET_REMAINING
    from monitoring.slo import LatencySource, load_spec

    spec = load_spec(None)
    latency = [s for s in spec.objective("latency").indicator.overall
               if isinstance(s, LatencySource)][0]
    return {
        "Request rate (req/s)": [
            ("router", 'sum(rate(haproxy_frontend_http_requests_total{proxy="fe_ehr"}[30s]))')],
        "Error rate (5xx share)": [
            ("router", '(sum(rate(haproxy_frontend_http_responses_total{proxy="fe_ehr",'
                       'code="5xx"}[30s])) / clamp_min(sum(rate(haproxy_frontend_http_requests'
                       '_total{proxy="fe_ehr"}[30s])), 1e-9)) or vector(0)')],
        "Latency (s)": [(f"p{q}", latency.quantile(q / 100, "30s")) for q in (50, 99)],
        "Replication lag (s)": [
            ("worst standby", "max(chartguard_replication_lag_seconds)")],
        "Error budget left (share of the period's)": [
            (name, f'min({BUDGET_REMAINING}{{slo="{name}",scope="overall"}})')
            for name in spec.objectives],
    }


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_OPENS = {"add_toxic": "remove_toxic", "disable_link": "enable_link"}


def _fault_windows(journal: dict[str, Any]) -> list[Window]:
    """One shaded window per fault: from the first action that started it on a set of
    links to the action that ended the last of it there (or the end of the run, when the
    rollback ended it)."""
    open_faults: dict[tuple[str, ...], tuple[float, list[str]]] = {}
    depth: dict[tuple[str, ...], int] = {}
    windows: list[Window] = []
    for action in journal.get("actions", []):
        kind, links = action.get("action"), tuple(action.get("targets") or ())
        start, end = _epoch(action.get("started")), _epoch(action.get("ended"))
        if start is None or end is None:
            continue
        if kind in _OPENS:
            name = ((action.get("detail") or {}).get("toxic") or {}).get("name") or "link down"
            first, names = open_faults.get(links, (start, []))
            open_faults[links] = (first, [*names, str(name)])
            depth[links] = depth.get(links, 0) + 1
        elif kind in _OPENS.values() and depth.get(links):
            depth[links] -= 1
            if depth[links] == 0:
                first, names = open_faults.pop(links)
                windows.append(Window(first, end, f"{', '.join(names)} on {', '.join(links)}"))
    ended = _epoch(journal.get("ended"))
    for links, (first, names) in open_faults.items():
        if ended is not None:
            windows.append(Window(first, ended, f"{', '.join(names)} on {', '.join(links)}"))
    return windows


def _epoch(stamp: Any) -> float | None:
    if isinstance(stamp, dict):
        stamp = stamp.get("epoch")
    return float(stamp) if isinstance(stamp, int | float) else None


def _charts(prometheus_url: str | None, start: float, end: float) -> dict[str, list[Series]]:
    if not prometheus_url or end - start < 2:
        return {}
    from monitoring.errors import MonitoringError
    from monitoring.promql import PrometheusClient

    step = max(1.0, (end - start) / 300)
    charts: dict[str, list[Series]] = {}
    try:
        with PrometheusClient(prometheus_url, timeout=10.0) as client:
            for title, lines in chart_queries().items():
                out = []
                for label, query in lines:
                    for series in client.range(query, start=start, end=end, step=step)[:4]:
                        values = [v if math.isfinite(v) else float("nan") for v in series.values]
                        out.append(Series(label=label, times=series.timestamps, values=values))
                charts[title] = out
    except MonitoringError:
        return charts  # the report says which charts are missing by their absence
    return charts


def compose_record(files: RehearsalFiles, *, playbook: PlaybookResult | None = None,
                   prometheus_url: str | None = None, config: dict[str, Any] | None = None,
                   versions: dict[str, str] | None = None) -> RunRecord:
    """The rehearsal's :class:`RunRecord` from its output folder, with the verdict."""
    times = _load(files.times) or {}
    started = float(times.get("baseline_start") or (playbook.started if playbook else time.time()))
    ended = float(times.get("surge_end") or (playbook.ended if playbook else time.time()))
    problems: list[str] = []
    windows: list[Window] = []
    if times.get("baseline_start") and times.get("baseline_end"):
        windows.append(Window(float(times["baseline_start"]), float(times["baseline_end"]),
                              "baseline", kind="step"))

    journal = _load(files.journal)
    if journal is None:
        problems.append("no chaos journal (the brownout did not run)")
    else:
        windows.extend(_fault_windows(journal))
        rollback = journal.get("rollback")
        if not isinstance(rollback, dict):  # a killed run's journal: its faults may be on
            problems.append("chaos rollback did not finish (run `chartguard chaos rollback`)")
        elif rollback.get("ok") is not True:
            problems.append("chaos rollback did not finish cleanly")
    surge = _load(files.surge_summary)
    load_verdict = None if surge is None else surge.get("verdict")
    migration = _load(files.migration)
    timings: dict[str, float | None] = {"rto": None, "rpo": None, "notice_latency": None}
    if migration is None:
        problems.append("no migration outcome (the migration step did not finish)")
    else:
        if migration.get("started") and migration.get("ended"):
            windows.append(Window(float(migration["started"]), float(migration["ended"]),
                                  f"migrate {migration['source']} to {migration['target']}",
                                  kind="step"))
        timings["rto"] = migration.get("write_unavailable_s")
        timings["edge_rto"] = migration.get("rto_s")
        timings["rpo"] = migration.get("lost_writes")
        timings["notice_latency"] = migration.get("notice_latency_s")
        if migration.get("status") != "succeeded":
            problems.append(f"migration {migration.get('status')}: {migration.get('reason')}")
        if migration.get("lost_writes"):
            problems.append(f"migration lost {migration['lost_writes']} acknowledged writes")
    verify = _load(files.verify)
    ledger: dict[str, int] = {}
    if verify is None:
        problems.append("no ledger verify result")
    else:
        ledger = {k: int(verify.get(k) or 0)
                  for k in ("entries", "acknowledged", "indeterminate", "lost", "corrupted")}
        if not verify.get("ok"):
            problems.append(f"ledger verify failed: lost {ledger['lost']}, corrupted "
                            f"{ledger['corrupted']} {'; '.join(verify.get('problems') or [])}")
    gate = _load(files.gate)
    rows: list[GateRow] = []
    if gate is None:
        problems.append("no gate result")
    else:
        for check in gate.get("checks", []):
            value = check.get("value")
            shown = "-" if value is None else f"{value:.4g} {check.get('unit', '')}"
            rows.append(GateRow(check=str(check.get("check")), status=str(check.get("status")),
                                value=shown,
                                threshold=f"{check.get('comparator', '')} {check.get('threshold')}",
                                detail=str(check.get("detail") or "")))
        if gate.get("outcome") != "pass":
            failing = [r.check for r in rows if r.status in ("fail", "error")]
            problems.append(f"gate {gate.get('outcome')}: {', '.join(failing[:5])}")
    record = RunRecord(
        title="Monday-morning migration rehearsal",
        verdict="pass" if not problems else "fail",
        reason="every gate passed" if not problems else problems[0],
        started=started,
        ended=ended,
        charts=_charts(prometheus_url, started, ended),
        windows=windows,
        gate=rows,
        ledger=ledger,
        timings=timings,
        versions=versions or {},
        config={**(config or {}), "problems": problems, "load_verdict": load_verdict,
                "load_reasons": (surge or {}).get("reasons")},
        client=_client_view(surge),
    )
    return with_playbook(record, playbook) if playbook is not None else record


def _client_view(surge: dict[str, Any] | None) -> dict[str, Any]:
    """The load generator's verdict and checks over the surge, as the practices saw it."""
    if surge is None:
        return {}
    total = surge.get("total") or {}
    return {
        "verdict": surge.get("verdict"),
        "requests": total.get("requests"),
        "failures": total.get("failures"),
        "checks": [{k: c.get(k) for k in ("name", "ok", "observed", "limit")}
                   for c in surge.get("checks", [])],
    }


def with_playbook(record: RunRecord, playbook: PlaybookResult) -> RunRecord:
    """``record`` with the playbook's steps; a failed step fails the verdict first."""
    record.steps = [{"name": t.name, "status": str(t.status), "seconds": t.seconds,
                     "message": t.message} for t in playbook.tasks]
    problems = list(record.config.get("problems", []))
    failed = playbook.failed_task
    if not playbook.ok:
        why = (f"step {failed.name!r} failed: {failed.message}" if failed is not None
               else f"playbook {playbook.status} (rc {playbook.rc})")
        if why not in problems:
            problems.insert(0, why)
    record.config["problems"] = problems
    record.verdict = "pass" if not problems else "fail"
    record.reason = "every gate passed" if not problems else problems[0]
    return record
