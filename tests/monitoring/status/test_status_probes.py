"""Probes against a real EHR on a real PostgreSQL: states and incidents follow /readyz."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.monitoring.status.payloads import TOKEN
from tests.monitoring.status.servers import (
    ehr_argv,
    free_port,
    kill_group,
    postgres_primary,
    server,
    status_service_argv,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def eventually(check: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.2)


def test_probes_follow_a_real_ehr_readyz(tmp_path: Path) -> None:
    from ehr_core import Settings
    from ehr_core.migrate import upgrade

    with postgres_primary() as db:
        upgrade(Settings(db_url=db.dsn, region="east"))
        ehr_port, status_port = free_port(), free_port()
        ehr_url, status_url = f"http://127.0.0.1:{ehr_port}", f"http://127.0.0.1:{status_port}"
        env = {"CHARTGUARD_DB_URL": db.dsn, "CHARTGUARD_REGION": "east",
               "CHARTGUARD_AUDIT_SPOOL_PATH": str(tmp_path / "spool.jsonl")}
        with server(ehr_argv(port=ehr_port), ready_url=f"{ehr_url}/healthz",
                    log=tmp_path / "ehr.log", env=env) as ehr, \
                server(status_service_argv(port=status_port, db=tmp_path / "status.db",
                                           regions={"east": ehr_url}, probe_interval=0.25),
                       ready_url=f"{status_url}/healthz", log=tmp_path / "status.log",
                       env={"CHARTGUARD_STATUS_TOKEN": TOKEN}), \
                httpx.Client(base_url=status_url, timeout=5) as http:

            def states() -> dict[str, str]:
                return {f"{c['region']}/{c['component']}": c["state"]
                        for c in http.get("/api/v1/components").json()}

            def open_incidents() -> list[dict]:
                return http.get("/api/v1/incidents", params={"open": True}).json()

            eventually(lambda: states().get("east/app") == "operational")
            db.stop()
            eventually(lambda: states().get("east/database") == "major_outage")
            assert states()["east/app"] == "partial_outage"
            incident = open_incidents()[0]
            assert incident["source"] == "probe:east:app" and incident["status"] == "investigating"

            db.start()
            eventually(lambda: states().get("east/database") == "operational")
            eventually(lambda: open_incidents() == [])
            resolved = http.get(f"/api/v1/incidents/{incident['id']}").json()
            assert [u["status"] for u in resolved["updates"]] == ["investigating", "resolved"]

            kill_group(ehr)  # the EHR process itself is gone: unreachable is a major outage
            eventually(lambda: states().get("east/app") == "major_outage")
