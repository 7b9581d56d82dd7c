"""One error shape everywhere; bad input is refused clearly and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings, create_app
from tests.ehr_core.conftest import World


def _shape(body: dict) -> None:
    assert set(body) >= {"error", "detail", "fields"}
    assert isinstance(body["detail"], str) and isinstance(body["fields"], list)


def test_422_names_the_bad_fields_and_creates_nothing(world: World) -> None:
    c, a = world.client, world.a
    before = c.get("/api/v1/patients", headers=a.owner).json()["total"]
    r = c.post(
        "/api/v1/patients",
        headers=a.owner,
        json={
            "given_name": "",
            "family_name": "Ok",
            "birth_date": "2999-01-01",
            "sex": "robot",
            "surprise": 1,
        },
    )
    assert r.status_code == 422
    body = r.json()
    _shape(body)
    assert body["error"] == "validation_error"
    named = {f["field"] for f in body["fields"]}
    assert {"body.given_name", "body.birth_date", "body.sex", "body.surprise"} <= named
    assert c.get("/api/v1/patients", headers=a.owner).json()["total"] == before


def test_malformed_json_and_bad_params(world: World) -> None:
    c, a = world.client, world.a
    r = c.post(
        "/api/v1/patients",
        headers={**a.owner, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    _shape(r.json())
    r = c.get("/api/v1/schedule?date=tomorrow", headers=a.owner)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "query.date"
    r = c.get("/api/v1/patients/99999999999999", headers=a.owner)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "path.patient_id"
    r = c.post(
        f"/api/v1/patients/{a.patient_ids[0]}/labs",
        headers=a.owner,
        json={"loinc": "x", "name": "n", "value": "NaN", "unit": "u"},
    )
    assert r.status_code == 422
    assert {"body.loinc", "body.value"} <= {f["field"] for f in r.json()["fields"]}


def test_409_on_stale_version_changes_nothing(world: World) -> None:
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    url = f"/api/v1/patients/{pid}"
    first = c.patch(url, headers={**a.staff, "If-Match": '"1"'}, json={"address": "2 First St"})
    assert first.status_code == 200 and first.json()["version"] == 2
    assert first.headers["etag"] == '"2"'
    stale = c.patch(url, headers={**a.owner, "If-Match": '"1"'}, json={"address": "3 Lost St"})
    assert stale.status_code == 409
    _shape(stale.json())
    assert stale.json()["error"] == "version_conflict"
    current = c.get(url, headers=a.owner).json()
    assert current["address"] == "2 First St" and current["version"] == 2
    # Version in the body works too; no version at all is a 422 naming it.
    assert c.patch(url, headers=a.owner, json={"address": "4 St", "version": 2}).status_code == 200
    r = c.patch(url, headers=a.owner, json={"address": "5 St"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "body.version"


def test_413_for_oversize_bodies(world: World) -> None:
    c, a = world.client, world.a
    limit = world.settings.max_body_bytes
    r = c.post(
        "/api/v1/encounters",
        headers={**a.owner, "Content-Type": "application/json"},
        content=b'{"note": "' + b"x" * (limit + 10) + b'"}',
    )
    assert r.status_code == 413
    _shape(r.json())
    assert r.json()["error"] == "payload_too_large"
    assert r.headers["x-chartguard-region"] == "test-east"

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = c.post(
        "/api/v1/encounters",
        headers={**a.owner, "Content-Type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413


def test_401_403_404_shapes(world: World) -> None:
    c, a = world.client, world.a
    for r, status in (
        (c.get("/api/v1/patients"), 401),
        (c.get("/api/v1/audit", headers=a.staff), 403),
        (c.get("/api/v1/patients/424242", headers=a.owner), 404),
        (c.get("/api/v1/nothing-here", headers=a.owner), 404),
    ):
        assert r.status_code == status
        _shape(r.json())


def test_out_of_range_dates_are_422_not_500(world: World) -> None:
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    r = c.post(
        "/api/v1/appointments",
        headers=a.owner,
        json={
            "patient_id": pid,
            "provider_id": a.owner_id,
            "start_at": "0001-01-01T00:00:00+01:00",
            "end_at": "0001-01-01T00:10:00+01:00",
        },
    )
    assert r.status_code == 422 and "body.start_at" in {f["field"] for f in r.json()["fields"]}
    r = c.post(
        f"/api/v1/patients/{pid}/labs",
        headers=a.owner,
        json={
            "loinc": "2345-7",
            "name": "Glucose",
            "value": 1,
            "unit": "mg/dL",
            "observed_at": "9999-12-31T23:59:59-05:00",
        },
    )
    assert r.status_code == 422
    assert c.get("/api/v1/schedule?date=9999-12-31", headers=a.owner).status_code == 422
    r = c.post(
        "/api/v1/patients",
        headers={**a.owner, "Content-Type": "application/json"},
        content=b'{"given_name":"\\ud800","family_name":"B","birth_date":"1990-01-01"}',
    )
    assert r.status_code == 422


def test_null_cannot_clear_a_required_field(world: World) -> None:
    c, a = world.client, world.a
    url = f"/api/v1/patients/{a.patient_ids[0]}"
    before = c.get(url, headers=a.owner).json()
    r = c.patch(url, headers={**a.owner, "If-Match": "1"}, json={"family_name": None})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "body.family_name"
    assert c.get(url, headers=a.owner).json() == before


@pytest.mark.unit
def test_exhausted_pool_is_503_busy_with_retry_after_not_500(
    sqlite_settings: Settings,
) -> None:
    """A login storm that holds every pooled connection past the pool timeout is an
    overload (503 + Retry-After), not an internal error."""
    settings = sqlite_settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.2}
    )
    with TestClient(create_app(settings)) as c:
        held = c.app.state.db.engine.connect()  # type: ignore[attr-defined]
        try:
            r = c.post(
                "/api/v1/auth/login",
                json={"email": "owner@practice-0000.test", "password": "whatever-password"},
            )
        finally:
            held.close()
    assert r.status_code == 503, r.text
    body = r.json()
    _shape(body)
    assert body["error"] == "database_unavailable" and "busy" in body["detail"]
    assert int(r.headers["Retry-After"]) >= 1
