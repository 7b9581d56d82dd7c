"""No patient data in logs, metric labels or error bodies."""

from __future__ import annotations

import logging

import pytest

from tests.ehr_core.conftest import World

NAME = "Zebulonia"
FAMILY = "Quixotterby"


def test_patient_name_never_leaks(world: World, caplog: pytest.LogCaptureFixture) -> None:
    c, a = world.client, world.a
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="chartguard.ehr.access")  # as with access_log on
    bodies: list[str] = []
    created = c.post(
        "/api/v1/patients",
        headers=a.owner,
        json={"given_name": NAME, "family_name": FAMILY, "birth_date": "1977-07-07"},
    )
    pid = created.json()["id"]
    # Searches by name, errors with the name in the input, conflicts, 404s, 413s.
    c.get(f"/api/v1/patients?q={FAMILY}", headers=a.staff)
    bodies.append(
        c.post(
            "/api/v1/patients",
            headers=a.owner,
            json={"given_name": NAME * 20, "family_name": FAMILY, "birth_date": f"{NAME}"},
        ).text
    )
    bodies.append(
        c.post(
            "/api/v1/patients",
            headers=a.owner,
            json={
                "given_name": NAME,
                "family_name": FAMILY,
                "birth_date": "1977-07-07",
                "mrn": f"{NAME}!",
            },
        ).text
    )
    bodies.append(
        c.patch(
            f"/api/v1/patients/{pid}",
            headers={**a.owner, "If-Match": "9"},
            json={"given_name": NAME + "x"},
        ).text
    )
    bodies.append(
        c.post(
            f"/api/v1/patients/{pid}/messages",
            headers=a.owner,
            json={"channel": "sms", "body": f"Dear {NAME}"},
        ).text
    )
    bodies.append(c.get(f"/api/v1/patients?q={NAME}&page=0", headers=a.staff).text)
    bodies.append(
        c.post(
            "/api/v1/appointments",
            headers=a.staff,
            json={
                "patient_id": pid,
                "provider_id": a.staff_id,
                "start_at": "2030-01-01T10:00:00Z",
                "end_at": "2030-01-01T10:20:00Z",
                "reason": NAME,
            },
        ).text
    )
    # Duplicate MRN -> integrity conflict from the database, whose message quotes values.
    mrn = created.json()["mrn"]
    bodies.append(
        c.post(
            "/api/v1/patients",
            headers=a.owner,
            json={
                "given_name": NAME,
                "family_name": FAMILY,
                "birth_date": "1977-07-07",
                "mrn": mrn,
            },
        ).text
    )
    metrics = c.get("/metrics").text
    audit = c.get("/api/v1/audit?page_size=500", headers=a.owner).text
    # The service's own log records (httpx's are the test client's, not the service's).
    service_logs = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("httpx")
    )
    assert "chartguard.ehr.access" in service_logs
    for text in (*bodies, metrics, audit, service_logs):
        assert NAME not in text and FAMILY not in text
    assert any('"error"' in b for b in bodies)
    assert "chartguard_http_requests_total" in metrics
