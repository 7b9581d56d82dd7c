"""The generated Alertmanager config end to end: real Alertmanager -> real status service.

An outage seen overall and in a region raises four alerts (page and ticket for each view);
the status service must hear the pages only (the tickets are inhibited), and hear them
resolve (send_resolved) when the alerts end.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from monitoring.alertmanager import render_alertmanager_config

pytestmark = pytest.mark.integration


def _alerts(ends: datetime | None = None) -> list[dict]:
    views = [{"scope": "overall", "component": "edge"},
             {"scope": "region", "component": "app", "region": "east"}]
    out = []
    for severity in ("page", "ticket"):
        for view in views:
            alert = {"labels": {"alertname": "AvailabilityBudgetBurn", "severity": severity,
                                "slo": "availability", **view},
                     "annotations": {"summary": "Availability error budget burning"}}
            if ends is not None:
                alert["endsAt"] = ends.isoformat()
            out.append(alert)
    return out


def _open_incidents(status_url: str) -> list[dict]:
    response = httpx.get(f"{status_url}/api/v1/incidents", params={"open": "true"}, timeout=10)
    response.raise_for_status()
    return response.json()


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_pages_reach_the_status_service_tickets_are_inhibited_and_both_resolve(spec, servers):
    status = servers.status_service()
    am = servers.alertmanager(render_alertmanager_config(
        spec, webhook_url=f"{status.url}/api/v1/alerts/webhook", profile="compressed"))
    posted = httpx.post(f"{am.url}/api/v2/alerts", json=_alerts(), timeout=10)
    assert posted.status_code == 200, posted.text

    assert _wait(lambda: len(_open_incidents(status.url)) > 0, timeout=20), \
        (status.workdir / "status.log").read_text()[-2000:]
    time.sleep(2)  # anything else Alertmanager would send arrives within its group_wait
    incidents = _open_incidents(status.url)
    text = json.dumps(incidents)
    assert 1 <= len(incidents) <= 2  # the two pages (edge, east app), not four alerts
    assert "severity page" in text
    assert "ticket" not in text  # inhibited by the page for the same view: never delivered

    ended = httpx.post(f"{am.url}/api/v2/alerts", json=_alerts(ends=datetime.now(UTC)),
                       timeout=10)
    assert ended.status_code == 200, ended.text
    # resolved notifications go out on the next group interval (5 s in compressed)
    assert _wait(lambda: not _open_incidents(status.url), timeout=30), \
        json.dumps(_open_incidents(status.url))
