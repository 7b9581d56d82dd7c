"""``chartguard migrate`` end to end on a real Pulumi local stack (private ports/state).

1. A standby made slow (latency on its database link) fails a gate (the router's health
   checks before, the latency SLO during the read shift or after the cutover) and the old
   primary serves again.
   Practices read through the router meanwhile: the SLO gate fails closed on a window
   without data, so a gated migration needs traffic to judge (an idle stack is refused).
2. Migrating east -> west -> east -> west, then ``rollback`` to east, ends healthy with no
   acknowledged write lost; a second ``rollback`` is refused.
3. Failover after east's database is killed: west serves writes, nothing acknowledged lost.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from infra.sandbox import free_port_offset
from tests.runbooks.writes import ledger_of_real_writes

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(1500)]

OFFSETS = range(3203, 3990, 10)
CHARTGUARD = Path(sys.executable).parent / "chartguard"
TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"


def run(env, *args, timeout=600):
    return subprocess.run([str(CHARTGUARD), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def deployment(state: Path) -> dict:
    return json.loads((state / "local" / "deployment.json").read_text())


def _kill_recorded(state: Path) -> None:
    for path in state.glob("*/deployment.json"):
        document = json.loads(path.read_text())
        pids = [p for r in document["regions"] for p in (r.get("pids") or {}).values()]
        for pid in [*pids, *(document.get("service_pids") or {}).values()]:
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                pass


@pytest.fixture(scope="module")
def stack():
    if not (TOOLS / "pulumi").exists():
        pytest.skip("Pulumi engine not built (bash scripts/bootstrap.sh tools)")
    root = Path(tempfile.mkdtemp(prefix="cg-migrate-"))
    root.chmod(0o755)
    state = root / "state"
    offset = free_port_offset(OFFSETS)
    env = {**os.environ, "CHARTGUARD_STATE_DIR": str(state),
           "CHARTGUARD_PORT_OFFSET": str(offset)}
    try:
        up = run(env, "up", timeout=900)
        assert up.returncode == 0, up.stderr[-3000:]
        yield env, state
    finally:
        run(env, "release", timeout=120)
        run(env, "down", timeout=600)
        _kill_recorded(state)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def practices_reading(router: str, *, warm_up_s: float = 15.0) -> Iterator[None]:
    """A practice reading its schedule through the router every 0.1 s (after ``warm_up_s``
    of it, so Prometheus has scraped and recorded it), until the block ends."""
    stop = threading.Event()
    login = httpx.post(f"{router}/api/v1/auth/login", timeout=30, json={
        "email": "staff1@practice-0000.test", "password": "chartguard-seed-password"})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}

    def read() -> None:
        with httpx.Client(base_url=router, timeout=10, headers=headers) as client:
            while not stop.wait(0.1):
                try:
                    client.get(f"/api/v1/schedule?date={dt.date.today()}")
                except httpx.HTTPError:
                    pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(warm_up_s)
        yield
    finally:
        stop.set()
        reader.join(timeout=15)


def primary_serves(router: str) -> str:
    ready = httpx.get(f"{router}/readyz", timeout=10).json()
    assert ready["role"] == "primary" and not ready["read_only"], ready
    return str(ready["region"])


def test_slow_standby_fails_the_gate_and_the_migration_rolls_back(stack):
    from infra.local.toxiproxy import client

    env, state = stack
    document = deployment(state)
    admin = client(document["toxiproxy"])
    toxic = {"name": "slow-west-db", "type": "latency", "stream": "downstream",
             "toxicity": 1.0, "attributes": {"latency": 200, "jitter": 20}}
    r = httpx.post(f"{document['toxiproxy']}/proxies/db-west/toxics", json=toxic, timeout=10)
    assert r.status_code == 200, r.text
    try:
        with practices_reading(document["router"]):
            done = run(env, "migrate", "--from", "east", "--to", "west",
                       "--json", str(state / "slow.json"))
    finally:
        httpx.delete(f"{document['toxiproxy']}/proxies/db-west/toxics/slow-west-db", timeout=10)
    assert admin.proxy("db-west") is not None
    result = json.loads((state / "slow.json").read_text())
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "runbooks"
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(state / "slow.json", artifacts / "migrate-slow-standby.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert result["status"] == "rolled_back", result["reason"]
    # Which gate catches a slow standby depends on how slow: the router's health checks
    # (2 s timeout) before anything changes, or the latency SLO after the cutover, in
    # which case the migration went back to east by itself.
    if result["failed_gate"] == "postcheck":
        assert "latency" in result["reason"], result["reason"]
        assert result["rollback"]["status"] == "succeeded"
    elif result["failed_gate"].startswith("reads "):
        # The practices' reads sent to west during the read shift were slow: the latency
        # SLO caught it before anything irreversible, and the reads went back to east.
        assert "latency" in result["reason"], result["reason"]
        assert not any(s["name"].startswith("fence") for s in result["steps"])
    else:
        # West's EHR answers its own /readyz late (its database link is slow), so the
        # runbook's check or the router's catches it first.
        assert result["failed_gate"] == "precheck: west healthy", result["reason"]
        assert ("router sees west as DOWN" in result["reason"]
                or "west EHR is not ready" in result["reason"]), result["reason"]
        assert not any(s["name"].startswith("fence") for s in result["steps"])
    assert result["lost_writes"] == 0
    assert primary_serves(document["router"]) == "east"
    assert {r["name"]: r["role"] for r in deployment(state)["regions"]} == {
        "east": "primary", "west": "standby"}


def test_migrate_there_and_back_then_roll_back_ends_healthy(stack):
    env, state = stack
    router = deployment(state)["router"]
    moves = [("migrate", "east", "west"), ("migrate", "west", "east"),
             ("migrate", "east", "west"), ("rollback", "west", "east")]
    for n, (kind, source, target) in enumerate(moves):
        # No SLO gate: on a stack minutes old, the previous test's refused writes are
        # most of the error budget's "period"; this test is about the mechanics.
        where = ["--from", source, "--to", target] if kind == "migrate" else []
        out = state / f"move-{n}.json"
        done = run(env, kind, *where, "--no-gate", "--json", str(out))
        result = json.loads(out.read_text())
        assert done.returncode == 0, result["reason"]
        assert result["kind"] == kind and result["target"] == target
        assert result["lost_writes"] == 0 and result["acknowledged_writes"] > 10
        assert primary_serves(router) == target
        assert {r["name"]: r["role"] for r in deployment(state)["regions"]} == {
            target: "primary", source: "standby"}
    # Nothing left to roll back to: a clear refusal that changes nothing.
    again = run(env, "rollback", "--no-gate")
    assert again.returncode == 2 and "already a rollback" in again.stdout + again.stderr
    assert primary_serves(router) == "east"
    status = run(env, "status", "--json")
    assert status.returncode == 0, status.stdout[-2000:]


def test_failover_after_losing_the_primary_loses_no_acknowledged_write(stack):
    from runbooks.local import LocalCluster
    from runbooks.local.server import stop_postmaster
    from runbooks.settings import RunbookSettings

    env, state = stack
    router = deployment(state)["router"]
    assert primary_serves(router) == "east"
    ledger = state / "before-the-loss.jsonl"
    ledger_of_real_writes(router, ledger, n=20)  # acknowledged by east in sync mode
    # The primary region's database dies hard (no shutdown checkpoint, no drain).
    settings = RunbookSettings(state_dir=state)
    import infra.local.settings as local_settings

    cluster = LocalCluster.from_deployment(
        settings.deployment_path("local"),
        settings=local_settings.LocalSettings(
            state_dir=state, port_offset=int(env["CHARTGUARD_PORT_OFFSET"])))
    assert stop_postmaster(cluster.db("east"), immediate=True)
    done = run(env, "failover", "--to", "west", "--ledger", str(ledger),
               "--json", str(state / "failover.json"))
    result = json.loads((state / "failover.json").read_text())
    assert done.returncode == 0, result["reason"]
    assert result["status"] == "succeeded"
    assert result["rpo_writes"] == 0 and result["lost_writes"] == 0
    assert result["acknowledged_writes"] >= 20
    assert result["kept_data_dir"]  # the old primary's data is set aside, not deleted
    assert primary_serves(router) == "west"
    assert {r["name"]: r["role"] for r in deployment(state)["regions"]} == {
        "east": "standby", "west": "primary"}
