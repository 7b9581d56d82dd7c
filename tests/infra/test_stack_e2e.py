"""The local stack end to end, through ``StackDriver`` and the real Pulumi engine.

``up`` (twice: the second changes nothing); create a patient through the router as
the seeded practice owner; read it from the west standby's database; kill east's EHR
and PostgreSQL and time how long until the router serves the patient from west;
``status`` and ``refresh`` report the dead processes; the status service (started by
``up``) shows east's app as an outage, and Prometheus runs chartguard's SLO rules;
``down`` leaves no process, no bound port and no deployment file.

The stack runs privately: its own state folder, a copy of the project (the program
itself is the repo's, linked) and every port moved by ``chartguard:portOffset``, so
it can run beside a developer's ``local`` stack and leaves the repo's files alone. The
measured times go to ``test-artifacts/stack_e2e.json``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from infra.automation import StackDriver
from infra.sandbox import free_port_offset, private_project
from infra.settings import REPO_ROOT, InfraSettings
from infra.status import Health, stack_status

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(1200)]

# Offsets are drawn among free ones (others' private stacks run here too); 4010..9000 are
# test_local_stack's.
OFFSETS = range(1013, 3990, 10)
SEED_PASSWORD = "chartguard-seed-password"
ARTIFACT = REPO_ROOT / "test-artifacts" / "stack_e2e.json"


def _bound(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _all_pids(deployment: dict[str, Any]) -> list[int]:
    pids = [p for r in deployment["regions"] for p in (r.get("pids") or {}).values()]
    return [int(p) for p in [*pids, *(deployment.get("service_pids") or {}).values()] if p]


def _listen_addresses(deployment: dict[str, Any]) -> list[str]:
    keys = ("router", "toxiproxy", "prometheus", "alertmanager", "status")
    urls = [deployment[k] for k in keys]
    addresses = [u.removeprefix("http://") for u in urls]
    addresses += [link["listen"] for link in deployment["links"]]
    return addresses


@pytest.fixture()
def stack_env() -> Iterator[tuple[InfraSettings, int]]:
    """Private state, ports and project folder (the engine rewrites stack files it uses)."""
    offset = free_port_offset(OFFSETS)
    with private_project(port_offset=offset, prefix="cg-e2e-") as settings:
        yield settings, offset


def _slo_records(prometheus_url: str) -> set[str]:
    groups = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return {r["name"] for g in groups for r in g["rules"] if r["type"] == "recording"}


def _app_state(status_url: str, region: str) -> str | None:
    """The status service's state of ``region``'s app component (None if not listed)."""
    try:
        summary = httpx.get(f"{status_url}/api/v1/summary", timeout=5).json()
    except httpx.HTTPError:
        return None
    states = {c["component"]: c["state"] for c in summary["regions"].get(region, [])}
    return states.get("app")


def _kill_leftovers(path: Path) -> None:
    """Last resort when ``down`` itself failed: kill every recorded process group."""
    if not path.exists():
        return
    for pid in _all_pids(json.loads(path.read_text())):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_local_stack_up_failover_refresh_down(stack_env: tuple[InfraSettings, int]) -> None:
    settings, port_offset = stack_env
    driver = StackDriver(settings=settings, stack="local")
    deployment_path = settings.deployment_path("local")
    timings: dict[str, float] = {}
    deployment: dict[str, Any] = {}
    try:
        first = driver.up()
        timings["up_s"] = first.duration_s
        assert first.changes.get("create", 0) >= 15
        assert first.deployment_path == deployment_path
        deployment = json.loads(deployment_path.read_text())
        east, west = deployment["regions"]
        assert (east["name"], east["role"], west["name"], west["role"]) == (
            "east", "primary", "west", "standby",
        )
        assert deployment["router"] == f"http://127.0.0.1:{8080 + port_offset}"
        assert all(_alive(pid) for pid in _all_pids(deployment))
        assert set(deployment["service_pids"]) == {
            "toxiproxy", "router", "prometheus", "alertmanager", "status"}

        # The status service runs on its own and probes what up deployed.
        assert deployment["status"] == f"http://127.0.0.1:{8090 + port_offset}"
        summary = httpx.get(f"{deployment['status']}/api/v1/summary", timeout=5)
        assert summary.status_code == 200, summary.text
        # chartguard's SLO rules are loaded, and Alertmanager routes to the status service.
        assert {"slo:sli_error:ratio_rate5m", "slo:error_budget:remaining_ratio"} <= (
            _slo_records(deployment["prometheus"]))
        am_config = httpx.get(f"{deployment['alertmanager']}/api/v2/status", timeout=5).json()
        assert f"{deployment['status']}/api/v1/alerts/webhook" in am_config["config"]["original"]

        report = stack_status(deployment_path, stack="local")
        by_key = {(c.region, c.component): c for c in report.components}
        assert report.healthy, [c for c in report.components if c.health is not Health.UP]
        assert by_key[("east", "postgres")].role == "primary"
        assert by_key[("west", "postgres")].role == "standby"
        assert by_key[("west", "ehr")].role == "standby" and by_key[("east", "ehr")].pid_alive

        second = driver.up()
        timings["up_again_s"] = second.duration_s
        assert not second.changed, second.changes

        router = deployment["router"]
        with httpx.Client(base_url=router, timeout=10) as http:
            login = http.post(
                "/api/v1/auth/login",
                json={"email": "owner@practice-0000.test", "password": SEED_PASSWORD},
            )
            assert login.status_code == 200, login.text
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            created = http.post(
                "/api/v1/patients", headers=auth,
                json={"given_name": "Ada", "family_name": "Failover", "birth_date": "1970-01-02"},
            )
            assert created.status_code == 201, created.text
            assert created.headers["X-Chartguard-Region"] == "east"
            patient_id = created.json()["id"]

            # sync replication: the acknowledged write is already on west's standby.
            with psycopg.connect(west["dsn"], connect_timeout=5) as conn:
                row = conn.execute(
                    "select family_name, pg_is_in_recovery() from patients where id = %s",
                    (patient_id,),
                ).fetchone()
            assert row == ("Failover", True)

            for component in ("ehr", "postgres"):
                os.killpg(int(east["pids"][component]), signal.SIGKILL)
            killed = time.monotonic()
            served_by = None
            while time.monotonic() - killed < 60:
                try:
                    read = http.get(f"/api/v1/patients/{patient_id}", headers=auth, timeout=2)
                except httpx.HTTPError:
                    read = None
                if read is not None and read.status_code == 200:
                    served_by = read.headers.get("X-Chartguard-Region")
                    if served_by == "west":
                        break
                time.sleep(0.1)
            timings["failover_to_west_reads_s"] = time.monotonic() - killed
            assert served_by == "west", "router still not serving from west after 60 s"
            assert read is not None and read.json()["family_name"] == "Failover"

        after = {(c.region, c.component): c for c in
                 stack_status(deployment_path, stack="local").components}
        for component in ("ehr", "postgres"):
            assert after[("east", component)].health is Health.DOWN
            assert after[("east", component)].pid_alive is False
        assert after[("west", "ehr")].health is Health.UP
        assert after[("global", "status")].health is Health.UP

        # The status service outlives the region and reports its app down.
        deadline = time.monotonic() + 30
        while _app_state(deployment["status"], "east") != "major_outage":
            assert time.monotonic() < deadline, _app_state(deployment["status"], "east")
            time.sleep(0.5)
        timings["status_east_outage_s"] = time.monotonic() - killed
        assert _app_state(deployment["status"], "west") == "operational"

        refreshed = driver.refresh()
        timings["refresh_s"] = refreshed.duration_s
        assert refreshed.changed, refreshed.changes
    finally:
        try:
            down = driver.down()
            timings["down_s"] = down.duration_s
        except Exception:
            _kill_leftovers(deployment_path)
            raise
        finally:
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            ARTIFACT.write_text(json.dumps(timings, indent=2) + "\n")
    assert not deployment_path.exists()
    assert not list(settings.stack_dir("local").rglob("PG_VERSION")), "a data dir survived down"
    leftover = [pid for pid in _all_pids(deployment) if _alive(pid)]
    assert not leftover, f"processes left after down: {leftover}"
    bound = [a for a in _listen_addresses(deployment) if _bound(a)]
    assert not bound, f"ports still bound after down: {bound}"
