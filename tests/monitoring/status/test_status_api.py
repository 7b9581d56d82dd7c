"""The status service through its HTTP API (in-process app, real SQLite file)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from monitoring.status import StatusSettings, StatusStore, create_app
from tests.monitoring.status.payloads import AUTH, alert, webhook_body

pytestmark = pytest.mark.unit

ATOM = "{http://www.w3.org/2005/Atom}"


def component(client: TestClient, key: str) -> dict:
    region, name = key.split("/")
    found = [c for c in client.get("/api/v1/components").json()
             if c["region"] == region and c["component"] == name]
    assert found, key
    return found[0]


def test_alert_lifecycle_opens_and_resolves_an_incident(client: TestClient) -> None:
    r = client.post("/api/v1/alerts/webhook", json=webhook_body(alert("firing")))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "opened": 1, "resolved": 0}
    incidents = client.get("/api/v1/incidents", params={"open": True}).json()
    assert len(incidents) == 1
    assert incidents[0]["status"] == "investigating"
    assert incidents[0]["components"] == [{"region": "east", "component": "database"}]
    assert component(client, "east/database")["state"] == "partial_outage"

    # Alertmanager repeats notifications: no second incident.
    again = client.post("/api/v1/alerts/webhook", json=webhook_body(alert("firing")))
    assert again.json()["opened"] == 0
    assert len(client.get("/api/v1/incidents").json()) == 1

    r = client.post("/api/v1/alerts/webhook", json=webhook_body(alert("resolved")))
    assert r.json()["resolved"] == 1
    incident = client.get(f"/api/v1/incidents/{incidents[0]['id']}").json()
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] is not None
    assert [u["status"] for u in incident["updates"]] == ["investigating", "resolved"]
    assert component(client, "east/database")["state"] == "operational"
    assert client.get("/api/v1/incidents", params={"open": True}).json() == []


def test_severity_maps_to_state_and_worst_signal_wins(client: TestClient) -> None:
    client.post("/api/v1/alerts/webhook", json=webhook_body(
        alert(severity="warning", fingerprint="a"),
        alert(severity="critical", fingerprint="b", name="EhrDatabaseGone"),
    ))
    assert component(client, "east/database")["state"] == "major_outage"
    client.post("/api/v1/alerts/webhook", json=webhook_body(
        alert("resolved", severity="critical", fingerprint="b", name="EhrDatabaseGone")))
    assert component(client, "east/database")["state"] == "degraded_performance"
    assert client.get("/api/v1/summary").json()["status"] == "degraded_performance"


def test_bad_webhook_payload_is_refused_and_changes_nothing(client: TestClient) -> None:
    r = client.post("/api/v1/alerts/webhook", content=b'{"version": "4", "alerts": [{}]}')
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert "alerts.0.status" in r.json()["fields"]
    r = client.post("/api/v1/alerts/webhook", content=b"not json")
    assert r.status_code == 422
    assert client.get("/api/v1/incidents").json() == []
    assert client.get("/api/v1/summary").json()["status"] == "operational"


def test_sre_updates_need_the_token(client: TestClient) -> None:
    client.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
    incident_id = client.get("/api/v1/incidents").json()[0]["id"]
    update = {"status": "identified", "message": "Primary disk full; failing over to west."}
    url = f"/api/v1/incidents/{incident_id}/updates"
    assert client.post(url, json=update).status_code == 401
    wrong = client.post(url, json=update, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert len(client.get(f"/api/v1/incidents/{incident_id}").json()["updates"]) == 1

    r = client.post(url, json=update, headers=AUTH)
    assert r.status_code == 201, r.text
    r = client.post(url, json={"status": "monitoring", "message": "West serves writes."},
                    headers=AUTH)
    body = r.json()
    assert body["status"] == "monitoring"
    assert [u["status"] for u in body["updates"]] == ["investigating", "identified", "monitoring"]
    assert body["updates"][-1]["author"] == "sre"
    bad = client.post(url, json={"status": "fixed", "message": "x"}, headers=AUTH)
    assert bad.status_code == 422 and "status" in bad.json()["fields"]
    missing = client.post("/api/v1/incidents/999/updates", json=update, headers=AUTH)
    assert missing.status_code == 404


def test_manual_incident_and_override(client: TestClient) -> None:
    new = {"title": "Slow chart loads", "message": "Looking into it.",
           "components": ["west/app"], "impact": "degraded_performance"}
    assert client.post("/api/v1/incidents", json=new).status_code == 401
    r = client.post("/api/v1/incidents", json=new, headers=AUTH)
    assert r.status_code == 201 and r.json()["source"] == "manual"

    r = client.put("/api/v1/components/west/app", json={"state": "major_outage"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["override"] == "major_outage"
    assert component(client, "west/app")["state"] == "major_outage"
    assert client.put("/api/v1/components/west/app", json={"state": "down"},
                      headers=AUTH).status_code == 422
    assert client.put("/api/v1/components/west/kitchen", json={"state": "major_outage"},
                      headers=AUTH).status_code == 422
    r = client.delete("/api/v1/components/west/app/override", headers=AUTH)
    assert r.json()["state"] == "operational"
    assert client.delete("/api/v1/components/west/app/override",
                         headers=AUTH).status_code == 404


def test_maintenance_window(client: TestClient) -> None:
    now = datetime.now(UTC)
    window = {"title": "Database migration", "message": "Moving east to the new cluster.",
              "starts_at": (now - timedelta(minutes=1)).isoformat(),
              "ends_at": (now + timedelta(minutes=30)).isoformat(),
              "components": ["east/database", "east/app"]}
    assert client.post("/api/v1/maintenance", json=window).status_code == 401
    backwards = {**window, "ends_at": (now - timedelta(hours=1)).isoformat()}
    bad = client.post("/api/v1/maintenance", json=backwards, headers=AUTH)
    assert bad.status_code == 422 and "ends_at" in bad.json()["detail"]
    assert client.get("/api/v1/maintenance").json() == []

    r = client.post("/api/v1/maintenance", json=window, headers=AUTH)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "in_progress"
    assert component(client, "east/database")["state"] == "under_maintenance"
    assert client.get("/api/v1/summary").json()["maintenance"][0]["id"] == created["id"]

    done = client.post(f"/api/v1/maintenance/{created['id']}/complete", headers=AUTH)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert component(client, "east/database")["state"] == "operational"
    again = client.post(f"/api/v1/maintenance/{created['id']}/complete", headers=AUTH)
    assert again.status_code == 409


def test_atom_feed_parses(client: TestClient) -> None:
    client.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
    client.post("/api/v1/alerts/webhook", json=webhook_body(alert("resolved")))
    r = client.get("/feed.atom")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") == "urn:chartguard:status"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles[0].startswith("[Resolved]") and titles[1].startswith("[Investigating]")
    assert all(e.findtext(f"{ATOM}id") and e.findtext(f"{ATOM}updated") for e in entries)


def test_page_renders_incident_and_states(client: TestClient) -> None:
    client.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    assert '<html lang="en">' in html and "east database is down" in html
    assert 'data-status="partial_outage"' in html
    assert "https://" not in html  # no external assets
    assert "Prometheus is not configured" in html
    assert "99.9%" in html  # the objective, read from monitoring/slo.yaml


def test_state_survives_a_restart(status_settings: StatusSettings) -> None:
    with TestClient(create_app(status_settings)) as c:
        c.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
        c.put("/api/v1/components/west/edge", json={"state": "degraded_performance",
                                                     "message": "router brownout"}, headers=AUTH)
    with TestClient(create_app(status_settings)) as c:
        assert len(c.get("/api/v1/incidents", params={"open": True}).json()) == 1
        assert component(c, "west/edge")["override_message"] == "router brownout"
        assert component(c, "east/database")["state"] == "partial_outage"


def test_store_rolls_back_a_failed_transaction(tmp_path) -> None:
    store = StatusStore(tmp_path / "s.db")
    try:
        with pytest.raises(RuntimeError), store._tx() as db:
            db.execute("INSERT INTO incidents (title, status, impact, source, components,"
                       " created_at, updated_at) VALUES ('t','investigating','major_outage',"
                       "'manual','[]','x','x')")
            raise RuntimeError("crash mid-transaction")
        assert store.incidents() == []
    finally:
        store.close()
