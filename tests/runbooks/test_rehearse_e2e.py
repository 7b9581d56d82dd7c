"""``chartguard rehearse --quick`` end to end: real Pulumi stack, load, chaos, migration.

Runs on a private state folder with every port moved (``CHARTGUARD_PORT_OFFSET``), so it
can run beside a developer's ``local`` stack; the playbook brings the stack down (and
stops the servers the migration started) pass or fail, and the fixture double-checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from infra.sandbox import free_port_offset

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(1500)]

OFFSETS = range(3101, 3990, 10)
CHARTGUARD = Path(sys.executable).parent / "chartguard"
TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"


def _kill_recorded(state: Path) -> None:
    for path in state.glob("*/deployment.json"):
        document = json.loads(path.read_text())
        pids = [p for r in document["regions"] for p in (r.get("pids") or {}).values()]
        for pid in [*pids, *(document.get("service_pids") or {}).values()]:
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                pass


@pytest.fixture
def private_env():
    if not (TOOLS / "pulumi").exists():
        pytest.skip("Pulumi engine not built (bash scripts/bootstrap.sh tools)")
    state = Path(tempfile.mkdtemp(prefix="cg-rehearse-"))
    state.chmod(0o755)
    env = {**os.environ, "CHARTGUARD_STATE_DIR": str(state / "state"),
           "CHARTGUARD_PORT_OFFSET": str(free_port_offset(OFFSETS))}
    try:
        yield env, state
    finally:
        subprocess.run([str(CHARTGUARD), "release"], env=env, timeout=120, check=False,
                       capture_output=True)
        subprocess.run([str(CHARTGUARD), "down"], env=env, timeout=600, check=False,
                       capture_output=True)
        _kill_recorded(state / "state")
        shutil.rmtree(state, ignore_errors=True)


def test_quick_rehearsal_passes_on_a_healthy_stack(private_env):
    """The whole rehearsal on real processes: surge, bgp-brownout, migration, gate.

    A healthy stack keeps its SLOs through the brownout (health is judged at each region;
    unanswered reads, logins and keyed writes are retried) and the migration under load.
    """
    env, state = private_env
    done = subprocess.run([str(CHARTGUARD), "rehearse", "--quick", "--out", str(state / "out")],
                          env=env, capture_output=True, text=True, timeout=1400, check=False)
    reports = list((state / "out").glob("*/report.json"))
    assert reports, done.stdout + done.stderr
    folder = reports[0].parent
    record = json.loads(reports[0].read_text())
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "runbooks"
    artifacts.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "report.json", "gate.json", "migration.json"):
        if (folder / name).is_file():
            shutil.copy(folder / name, artifacts / f"rehearse-quick-{name}")
    assert record["verdict"] == "pass", record["reason"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # Every part was produced: migration outcome, ledger verify, gate, charts, report.
    for part in ("migration.json", "verify.json", "gate.json", "chaos-journal.json",
                 "report.html", "report.xml"):
        assert (folder / part).is_file(), part
    migration = json.loads((folder / "migration.json").read_text())
    assert migration["status"] == "succeeded", migration["reason"]
    assert record["ledger"]["lost"] == 0 and not migration["lost_writes"]
    # Reads moved to west in steps before the cutover, each step gated.
    shifted = [s for s in migration["steps"] if s["name"].startswith("shift reads")]
    assert [s["status"] for s in shifted] == ["ok", "ok", "ok"], shifted
    assert migration["write_unavailable_s"] < 10
    assert record["charts"] and record["gate"]
    names = [s["name"] for s in record["steps"]]
    assert "bring the stack down" in names and "gate the rehearsal against the baseline" in names
    # The playbook brought the stack down and stopped what the migration started.
    assert not (state / "state" / "local" / "deployment.json").exists()
