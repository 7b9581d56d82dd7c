"""Runbooks benchmark: cutover RTO of a migration and of a failover, on real processes.

``main()`` starts a private sync stack (PostgreSQL primary + hot standby, one EHR per
region, HAProxy, Toxiproxy replication links; the test suite's helper) on free
loopback ports, runs a write probe through the router (a write every 50 ms), and
measures:

* ``migrate``: east -> west -> east; per run the write-unavailability window measured by
  the runbook (first write-stopping step to the new primary serving writes), the edge
  RTO seen by the probe (longest gap between acknowledged writes), the whole runbook's
  wall time and its slowest steps, and lost writes (must be 0);
* ``failover``: the primary's PostgreSQL killed (SIGQUIT, no checkpoint), then
  ``failover`` to the standby: same numbers (RPO = acknowledged writes lost).

* ``rehearsal`` and ``rehearsal_default``: ``chartguard rehearse --quick`` and the default
  rehearsal, each on a private Pulumi stack (its own state folder, a free port offset):
  wall time, verdict and reason, the migration's numbers and steps, the maintenance
  notice latency (status service -> practice banner) and what the practices saw. Skipped
  (with the reason) without the Pulumi engine.
Results go to ``bench/results/runbooks.json``; every process is stopped in a ``finally``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, TypedDict

RESULTS = Path(__file__).resolve().parent / "results" / "runbooks.json"
class _Login(TypedDict):
    email: str
    password: str


OWNER: _Login = {"email": "owner@practice-0000.test", "password": "chartguard-seed-password"}


def _numbers(result: Any) -> dict[str, Any]:
    slow = sorted(result.steps, key=lambda s: s.seconds or 0, reverse=True)[:4]
    return {
        "status": str(result.status),
        "write_unavailable_s": result.write_unavailable_s,
        "edge_rto_s": result.rto_s,
        "wall_s": (result.ended or 0) - result.started,
        "acknowledged_writes": result.acknowledged_writes,
        "lost_writes": result.lost_writes,
        "slowest_steps": {s.name: round(s.seconds or 0, 3) for s in slow},
    }


def _summary(runs: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def _rehearsal(*, quick: bool) -> dict[str, Any]:
    """Run ``chartguard rehearse [--quick]`` on a private stack; its numbers or why not."""
    import json as _json
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from infra.sandbox import free_port_offset

    chartguard = Path(sys.executable).parent / "chartguard"
    if not (Path(__file__).resolve().parents[1] / ".tools" / "bin" / "pulumi").exists():
        return {"skipped": "Pulumi engine not built (bash scripts/bootstrap.sh tools)"}
    root = Path(tempfile.mkdtemp(prefix="bench-rehearsal-"))
    root.chmod(0o755)
    env = {**os.environ, "CHARTGUARD_STATE_DIR": str(root / "state"),
           "CHARTGUARD_PORT_OFFSET": str(free_port_offset(range(3307, 3990, 10)))}
    args = ["rehearse", *(["--quick"] if quick else []), "--out", str(root / "out")]
    started = time.monotonic()
    try:
        done = subprocess.run([str(chartguard), *args], env=env, capture_output=True, text=True,
                              timeout=3600, check=False)
        wall = time.monotonic() - started
        reports = list((root / "out").glob("*/report.json"))
        if not reports:
            return {"wall_s": round(wall, 1), "exit_code": done.returncode,
                    "error": done.stderr[-500:]}
        record = _json.loads(reports[0].read_text())
        migration_path = reports[0].parent / "migration.json"
        migration = _json.loads(migration_path.read_text()) if migration_path.exists() else {}
        steps = {s["name"]: round(s["ended"] - s["started"], 2)
                 for s in migration.get("steps", []) if s.get("ended") and s.get("started")}
        return {"wall_s": round(wall, 1), "exit_code": done.returncode,
                "verdict": record["verdict"], "reason": record["reason"],
                "migration_status": migration.get("status"),
                "migration_reason": migration.get("reason"),
                "write_unavailable_s": migration.get("write_unavailable_s"),
                "edge_rto_s": migration.get("rto_s"),
                "notice_latency_s": migration.get("notice_latency_s"),
                "migration_steps_s": steps,
                "ledger": record.get("ledger"),
                "client": record.get("client")}
    finally:
        for command in (["release"], ["down"]):
            subprocess.run([str(chartguard), *command], env=env, capture_output=True,
                           timeout=600, check=False)
        shutil.rmtree(root, ignore_errors=True)


def main() -> dict[str, Any]:
    from runbooks.local import NO_GATE, Cutover, WriteProbe
    from runbooks.local.server import stop_postmaster
    from tests.runbooks.local.stack import start_private_stack

    started = time.time()
    stack = start_private_stack()
    migrations: list[dict[str, Any]] = []
    failovers: list[dict[str, Any]] = []
    try:
        for _ in range(2):
            source, target = stack.cluster.primary, stack.cluster.standbys[0]
            # The private stack has no Prometheus: the write pause is what this measures.
            runner = Cutover(stack.cluster, gate=NO_GATE,
                             probe=WriteProbe(stack.router_url, max_seconds=120, **OWNER))
            result = runner.migrate(source, target)
            stack.cluster = runner.cluster
            migrations.append({"from": source, "to": target, **_numbers(result)})
        source, target = stack.cluster.primary, stack.cluster.standbys[0]
        probe = WriteProbe(stack.router_url, max_seconds=120, **OWNER).start()
        time.sleep(1.0)
        killed = time.time()
        stop_postmaster(stack.cluster.db(source), immediate=True)
        runner = Cutover(stack.cluster, probe=probe)
        result = runner.failover(target)
        stack.cluster = runner.cluster
        failovers.append({"from": source, "to": target, "killed_at": killed,
                          **_numbers(result)})
    finally:
        stack.close()
    rehearsal = _rehearsal(quick=True)
    full = _rehearsal(quick=False)
    document = {
        "kind": "chartguard.bench.runbooks",
        "measured_at": started,
        "how": "private sync stack on loopback, write probe every 50 ms through HAProxy",
        "migrate": {"runs": migrations,
                    "write_unavailable_s": _summary(migrations, "write_unavailable_s"),
                    "edge_rto_s": _summary(migrations, "edge_rto_s"),
                    "wall_s": _summary(migrations, "wall_s")},
        "failover": {"runs": failovers,
                     "write_unavailable_s": _summary(failovers, "write_unavailable_s"),
                     "edge_rto_s": _summary(failovers, "edge_rto_s")},
        "rehearsal": rehearsal,
        "rehearsal_default": full,
        "notice_latency_s": rehearsal.get("notice_latency_s"),
        "rehearsal_wall_s": rehearsal.get("wall_s"),
        "rehearsal_default_wall_s": full.get("wall_s"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    return document


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
