"""A saturated primary keeps passing its router health checks (issue: the Monday outage).

Behind the real HAProxy of a private stack, the primary's EHR is driven flat out (the
practice-day mix with no think time) while a crowd signs in at once, argon2 and all. The
router checks ``/readyz`` every second with a 2 s timeout and marks a server down after
two misses: the primary must stay UP the whole time (no down transition), and the
router must not send anything to the read-only standby. Only what practices ask for
queues; health and reads keep their time (ehr_core/passwords.py, /readyz off the request
threads).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbooks.local.router import RouterControl
from tests.runbooks.local.stack import PrivateStack

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[3]


def _down_transitions(control: RouterControl) -> dict[str, int]:
    """HAProxy's count of UP -> DOWN transitions of each ``be_ehr`` server."""
    lines = control.command("show stat").lstrip("# ").splitlines()
    header = lines[0].split(",")
    counts: dict[str, int] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == control.backend and row.get("svname") not in ("BACKEND", ""):
            counts[row["svname"]] = int(row.get("chkdown") or 0)
    return counts


def test_a_saturated_primary_keeps_passing_its_router_checks(
    private_stack: PrivateStack, tmp_path: Path
) -> None:
    control = private_stack.router_control()
    primary = private_stack.cluster.primary
    before = _down_transitions(control)
    out = tmp_path / "storm.json"
    load = subprocess.Popen(
        [sys.executable, "-m", "bench.ehr_locust", "--mode", "storm",
         "--host", private_stack.router_url, "--users", "48", "--duration", "20",
         "--rate", "0", "--practices", "1", "--storm-people", "240",
         "--storm-seconds", "15", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while load.poll() is None and time.monotonic() < deadline:
            server = control.servers()[primary]
            seen.append(server.status)
            time.sleep(0.25)
    finally:
        if load.poll() is None:
            load.kill()
        load.wait(timeout=30)
    assert load.returncode == 0, "the load run failed"
    result = json.loads(out.read_text())
    assert result["total"]["requests"] > 500  # it really was busy
    assert all(status.startswith("UP") for status in seen), sorted(set(seen))
    assert _down_transitions(control) == before
    assert result["readyz"]["missed"] == 0, result["readyz"]
    assert result["readyz"]["worst_ms"] < 2000, result["readyz"]
    # Every request was answered by the primary's region, none refused as read-only.
    assert not any("503" in error for error in result["errors"]), result["errors"]
