"""Practice notices: composition rules, the endpoints, and the live relay from the status
service through a real EHR process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings
from ehr_core.migrate import upgrade
from ehr_core.notices import LocalState, NoticeBoard, compose
from ehr_core.notices.notice import READ_ONLY_MESSAGE
from tests.monitoring.status.payloads import TOKEN, alert, webhook_body
from tests.monitoring.status.servers import ehr_argv, free_port, server, status_service

NOW = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
UP = LocalState(reachable=True, read_only=False)
SUMMARY = {
    "status": "partial_outage",
    "incidents": [{"id": 7, "title": "East database down", "status": "identified",
                   "impact": "major_outage", "updated_at": "2025-03-03T07:59:00+00:00",
                   "updates": [{"message": "Investigating"}, {"message": "Failing over"}]}],
    "maintenance": [],
}


@pytest.mark.unit
def test_read_only_wins_and_says_what_works() -> None:
    n = compose(local=LocalState(reachable=True, read_only=True), summary=SUMMARY,
                status_service="ok", region="west", now=NOW)
    assert (n.active, n.mode, n.message) == (True, "read_only", READ_ONLY_MESSAGE)
    assert "charts" in n.available and "new notes" in n.unavailable
    assert n.incidents[0].latest_update == "Failing over"


@pytest.mark.unit
def test_local_state_counts_without_the_status_service() -> None:
    down = compose(local=LocalState(reachable=False, read_only=False), summary=None,
                   status_service="unreachable", region="east", now=NOW)
    assert (down.mode, down.level) == ("outage", "critical")
    calm = compose(local=UP, summary=None, status_service="unreachable", region="east", now=NOW)
    assert not calm.active and calm.mode == "normal"


@pytest.mark.unit
def test_incidents_and_maintenance_from_the_status_service() -> None:
    n = compose(local=UP, summary=SUMMARY, status_service="ok", region="east", now=NOW)
    assert (n.mode, n.level, n.headline) == ("degraded", "critical",
                                             "Identified: East database down")
    window = {"title": "Migration", "message": "Moving the database", "status": "in_progress",
              "starts_at": "2025-03-03T07:00:00Z", "ends_at": "2025-03-03T09:00:00Z"}
    m = compose(local=UP, summary={**SUMMARY, "maintenance": [window]}, status_service="ok",
                region="east", now=NOW)
    assert (m.mode, m.message) == ("maintenance", "Moving the database")


@pytest.mark.unit
def test_updated_at_moves_only_when_the_content_changes() -> None:
    state = {"local": UP}
    board = NoticeBoard(region="east", status_url=None, local_state=lambda: state["local"])

    async def scenario() -> list[datetime]:
        first = await board.current()
        second = await board.current()
        state["local"] = LocalState(reachable=True, read_only=True)
        third = await board.current()
        assert third.mode == "read_only" and third.status_service == "not_configured"
        return [first.updated_at, second.updated_at, third.updated_at]

    a, b, c = asyncio.run(scenario())
    assert a == b < c


@pytest.mark.unit
def test_notice_endpoint_and_practice_page(sqlite_client: TestClient) -> None:
    r = sqlite_client.get("/api/v1/notice")
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "normal" and body["status_service"] == "not_configured"
    assert body["region"] == "test-east"
    page = sqlite_client.get("/practice")
    assert page.status_code == 200
    assert 'id="notice-banner"' in page.text and "EventSource" in page.text
    assert "https://" not in page.text


@pytest.fixture
def status_url(tmp_path: Path) -> Iterator[str]:
    with status_service(tmp_path, token=TOKEN) as url:
        yield url


def next_notice(lines: Iterator[str]) -> dict:
    for line in lines:
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("notice stream ended")


@pytest.mark.integration
def test_relay_follows_the_status_service(tmp_path: Path, status_url: str) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'ehr.db'}", region="east",
                        audit_spool_path=str(tmp_path / "spool.jsonl"))
    upgrade(settings)
    port = free_port()
    ehr_url = f"http://127.0.0.1:{port}"
    env = {"CHARTGUARD_DB_URL": settings.db_url, "CHARTGUARD_REGION": "east",
           "CHARTGUARD_STATUS_URL": status_url,
           "CHARTGUARD_AUDIT_SPOOL_PATH": settings.audit_spool_path}
    with server(ehr_argv(port=port), ready_url=f"{ehr_url}/healthz", log=tmp_path / "ehr.log",
                env=env), httpx.Client(timeout=15) as http, \
            http.stream("GET", f"{ehr_url}/api/v1/notice/events") as stream:
        lines = stream.iter_lines()
        first = next_notice(lines)
        assert first["mode"] == "normal" and first["status_service"] == "ok"
        http.post(f"{status_url}/api/v1/alerts/webhook", json=webhook_body(alert()))
        degraded = next_notice(lines)
        assert degraded["mode"] == "degraded"
        assert degraded["incidents"][0]["title"] == "east database is down"
        http.post(f"{status_url}/api/v1/alerts/webhook", json=webhook_body(alert("resolved")))
        assert next_notice(lines)["mode"] == "normal"
        assert http.get(f"{ehr_url}/api/v1/notice").json()["mode"] == "normal"
