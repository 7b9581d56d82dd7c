"""The practice banner and the status page in a real headless Chromium.

A real PostgreSQL, a real EHR process (seeded) and the status service process; the fault
is the database turning read-only (as after a demotion), then an alert posted to the
status service's Alertmanager webhook, then the database stopping. Measures fault ->
banner visible, in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.status.browser import ARTIFACTS, chromium, shot
from tests.monitoring.status.payloads import SEED_PASSWORD, TOKEN, alert, webhook_body
from tests.monitoring.status.servers import (
    ehr_argv,
    free_port,
    postgres_primary,
    server,
    set_read_only,
    status_service_argv,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NOTICE_TARGET_SECONDS = 30.0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """PostgreSQL + seeded EHR (region east) + status service probing it."""
    from ehr_core import Settings
    from ehr_core.db import make_engine
    from ehr_core.migrate import upgrade
    from ehr_core.seed import seed

    with postgres_primary() as db:
        dsn = db.dsn
        settings = Settings(db_url=dsn, region="east", seed_password=SEED_PASSWORD,
                            audit_spool_path=str(tmp_path / "spool.jsonl"))
        upgrade(settings)
        engine = make_engine(settings)
        try:
            seed(engine, practices=1, patients=12, seed=1, password=SEED_PASSWORD)
        finally:
            engine.dispose()
        ehr_port, status_port = free_port(), free_port()
        ehr_url = f"http://127.0.0.1:{ehr_port}"
        status_url = f"http://127.0.0.1:{status_port}"
        ehr_env = {"CHARTGUARD_DB_URL": dsn, "CHARTGUARD_REGION": "east",
                   "CHARTGUARD_STATUS_URL": status_url,
                   "CHARTGUARD_SEED_PASSWORD": SEED_PASSWORD,
                   "CHARTGUARD_AUDIT_SPOOL_PATH": settings.audit_spool_path}
        status_env = {"CHARTGUARD_STATUS_TOKEN": TOKEN,
                      "CHARTGUARD_STATUS_STATE_DIR": str(tmp_path / "state")}
        with server(status_service_argv(port=status_port, db=tmp_path / "status.db",
                                        regions={"east": ehr_url}, probe_interval=0.5),
                    ready_url=f"{status_url}/healthz", log=tmp_path / "status.log",
                    env=status_env), \
                server(ehr_argv(port=ehr_port), ready_url=f"{ehr_url}/healthz",
                       log=tmp_path / "ehr.log", env=ehr_env):
            yield {"pg": db, "ehr": ehr_url, "status": status_url}


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_banner_and_incident_follow_a_fault(stack: dict[str, Any], browser: Any) -> None:
    context = browser.new_context()
    practice = context.new_page()
    status = context.new_page()
    try:
        practice.goto(f"{stack['ehr']}/practice")
        practice.fill("#email", "owner@practice-0000.test")
        practice.fill("#password", SEED_PASSWORD)
        practice.click("button[type=submit]")
        practice.wait_for_selector("#schedule-rows tr", timeout=15_000)
        assert practice.locator("#notice-banner").is_hidden()
        status.goto(f"{stack['status']}/")
        status.wait_for_selector("tr[data-component='east/app']", timeout=15_000)
        assert status.locator("#no-incidents").is_visible()
        shot(practice, "1-practice-normal")
        shot(status, "1-status-normal")

        # Fault 1: the region's database turns read-only.
        started = time.monotonic()
        set_read_only(stack["pg"], True)
        practice.wait_for_selector("#notice-banner[data-mode='read_only']", state="visible",
                                   timeout=NOTICE_TARGET_SECONDS * 1000)
        read_only_seconds = time.monotonic() - started
        assert "new notes cannot be saved" in practice.inner_text("#notice-banner")
        assert practice.locator("#schedule-rows tr").count() > 0  # reads still work
        shot(practice, "2-practice-read-only")

        # Fault 2: Alertmanager reports the outage; an incident opens on both pages.
        started = time.monotonic()
        httpx.post(f"{stack['status']}/api/v1/alerts/webhook", timeout=5,
                   json=webhook_body(alert(severity="critical"))).raise_for_status()
        status.wait_for_selector("article.incident:has-text('east database is down')",
                                 timeout=15_000)
        practice.wait_for_selector("#notice-incidents li:has-text('east database is down')",
                                   timeout=15_000)
        incident_seconds = time.monotonic() - started
        shot(status, "3-status-incident")
        shot(practice, "3-practice-incident")

        # Recovery: writable again, alert resolved -> banner and incident disappear.
        set_read_only(stack["pg"], False)
        httpx.post(f"{stack['status']}/api/v1/alerts/webhook", timeout=5,
                   json=webhook_body(alert("resolved", severity="critical"))).raise_for_status()
        practice.wait_for_selector("#notice-banner", state="hidden", timeout=15_000)
        status.wait_for_selector("#no-incidents", timeout=15_000)
        assert status.locator("article.incident").count() == 0
        shot(practice, "4-practice-recovered")
        shot(status, "4-status-recovered")

        # Fault 3: the database stops. The EHR's own readiness says so (no alert needed),
        # and the status service's probe opens an incident by itself.
        started = time.monotonic()
        stack["pg"].stop()
        practice.wait_for_selector("#notice-banner[data-mode='outage']", state="visible",
                                   timeout=NOTICE_TARGET_SECONDS * 1000)
        stopped_seconds = time.monotonic() - started
        status.wait_for_selector("article.incident:has-text('east region: database')",
                                 timeout=15_000)
        shot(practice, "5-practice-db-stopped")
        shot(status, "5-status-db-stopped")
        stack["pg"].start()
        practice.wait_for_selector("#notice-banner", state="hidden", timeout=30_000)
        status.wait_for_selector("#no-incidents", timeout=30_000)
    finally:
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "latency.json").write_text(json.dumps({
        "read_only_to_banner_seconds": round(read_only_seconds, 3),
        "alert_to_incident_on_both_pages_seconds": round(incident_seconds, 3),
        "db_stopped_to_banner_seconds": round(stopped_seconds, 3),
        "target_seconds": NOTICE_TARGET_SECONDS,
    }, indent=2))
    assert read_only_seconds < NOTICE_TARGET_SECONDS
    assert stopped_seconds < NOTICE_TARGET_SECONDS
