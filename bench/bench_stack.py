"""Local stack benchmark: deploy times and how fast the stack reacts to a dead region.

``main()`` runs the whole two-region local stack through the real Pulumi engine on a
private copy of the project (its own state, every port moved by a free offset, so it
can run beside a developer's ``local`` stack and others' private copies), and measures:

* ``up_s``: the first ``up`` (every process started, SLO rules installed);
* ``up_again_s``: a second ``up``, which must change nothing;
* ``router_to_west_s``: from SIGKILL of east's EHR (its whole process group) until the
  router answers from west (the failover RTO for reads; target <= 5 s);
* ``status_outage_s``: from the same kill until the status service shows east's app as
  ``major_outage`` (the SRE page's part of "practices told within 30 s");
* ``down_s``: ``down``, after which no recorded process may be alive.

Results (seconds; median and max over ``CHARTGUARD_BENCH_REPEAT`` cycles, default 1,
because one cycle takes about a minute on a 2-core machine) go to
``bench/results/stack.json``. Every stack is brought down in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from infra.automation import StackDriver
from infra.sandbox import free_port_offset, private_project

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "stack.json"
WAIT_LIMIT_S = 60.0


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _pids(deployment: dict[str, Any]) -> list[int]:
    region_pids = [p for r in deployment["regions"] for p in (r.get("pids") or {}).values()]
    return [int(p) for p in [*region_pids, *deployment["service_pids"].values()] if p]


def _seconds_until(check: Any, since: float) -> float:
    """Seconds from ``since`` until ``check()`` is true; raise after WAIT_LIMIT_S."""
    while not check():
        if time.monotonic() - since > WAIT_LIMIT_S:
            raise TimeoutError(f"not reached within {WAIT_LIMIT_S:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - since


def _served_by_west(router: str) -> bool:
    try:
        response = httpx.get(f"{router}/readyz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.headers.get("X-Chartguard-Region") == "west"


def _east_app_down(status_url: str) -> bool:
    try:
        summary = httpx.get(f"{status_url}/api/v1/summary", timeout=1.0).json()
    except (httpx.HTTPError, ValueError):
        return False
    states = {c["component"]: c["state"] for c in summary["regions"].get("east", [])}
    return states.get("app") == "major_outage"


def _cycle() -> dict[str, float]:
    offset = free_port_offset(range(1017, 3990, 10))
    with private_project(port_offset=offset, prefix="cg-bench-") as settings:
        driver = StackDriver(settings=settings, stack="local")
        deployment: dict[str, Any] = {}
        timings: dict[str, float] = {}
        try:
            first = driver.up()
            timings["up_s"] = first.duration_s
            assert first.deployment_path is not None
            deployment = json.loads(first.deployment_path.read_text())
            again = driver.up()
            if again.changed:
                raise RuntimeError(f"a second up changed the stack: {again.changes}")
            timings["up_again_s"] = again.duration_s

            east = next(r for r in deployment["regions"] if r["name"] == "east")
            os.killpg(int(east["pids"]["ehr"]), signal.SIGKILL)
            killed = time.monotonic()
            timings["router_to_west_s"] = _seconds_until(
                lambda: _served_by_west(deployment["router"]), killed)
            timings["status_outage_s"] = _seconds_until(
                lambda: _east_app_down(deployment["status"]), killed)
        finally:
            down = driver.down()
            timings["down_s"] = down.duration_s
        left = [pid for pid in _pids(deployment) if _alive(pid)] if deployment else []
        if left:
            raise RuntimeError(f"processes alive after down: {left}")
        return timings


def main() -> dict[str, Any]:
    repeat = max(1, int(os.environ.get("CHARTGUARD_BENCH_REPEAT", "1")))
    cycles = [_cycle() for _ in range(repeat)]
    result: dict[str, Any] = {
        "benchmark": "stack",
        "cycles": repeat,
        "targets": {"router_to_west_s": 5.0, "status_outage_s": 30.0},
    }
    for key in cycles[0]:
        values = [c[key] for c in cycles]
        result[key] = {"median": round(statistics.median(values), 3),
                       "max": round(max(values), 3)}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
