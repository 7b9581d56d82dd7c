"""Auth and tenancy matrix: every route x (another practice -> 404, wrong role -> 403,
no token -> 401), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from typing import Any

from ehr_core.app import api_routers
from tests.ehr_core.conftest import SEED_START, World

MISSING = 2_147_483_647


def _ids(world: World) -> dict[str, int]:
    """Ids of practice B's records (patient, appointment, encounter, user)."""
    c, b = world.client, world.b
    appt = c.get(f"/api/v1/schedule?date={SEED_START}", headers=b.owner).json()["items"][0]
    patient_id = appt["patient_id"]
    chart = c.get(f"/api/v1/patients/{patient_id}/chart", headers=b.owner).json()
    return {
        "patient": patient_id,
        "appointment": appt["id"],
        "encounter": chart["recent_encounters"][0]["id"],
        "user": b.staff_id,
    }


def _routes(ids: dict[str, int], provider_id: int) -> list[tuple[str, str, Any]]:
    p, a, e, u = ids["patient"], ids["appointment"], ids["encounter"], ids["user"]
    return [
        ("GET", f"/api/v1/patients/{p}", None),
        ("PATCH", f"/api/v1/patients/{p}", {"phone": "+1 555 123 4567", "version": 1}),
        ("GET", f"/api/v1/patients/{p}/chart", None),
        ("GET", f"/api/v1/patients/{p}/labs", None),
        (
            "POST",
            f"/api/v1/patients/{p}/labs",
            {"loinc": "2345-7", "name": "Glucose", "value": 90, "unit": "mg/dL"},
        ),
        ("GET", f"/api/v1/patients/{p}/allergies", None),
        ("POST", f"/api/v1/patients/{p}/allergies", {"substance": "Latex"}),
        ("GET", f"/api/v1/patients/{p}/medications", None),
        ("POST", f"/api/v1/patients/{p}/medications", {"name": "Metformin"}),
        ("GET", f"/api/v1/patients/{p}/messages", None),
        ("POST", f"/api/v1/patients/{p}/messages", {"channel": "sms", "body": "hello"}),
        ("GET", f"/api/v1/appointments/{a}", None),
        ("PATCH", f"/api/v1/appointments/{a}", {"status": "arrived"}),
        (
            "POST",
            "/api/v1/appointments",
            {
                "patient_id": p,
                "provider_id": provider_id,
                "start_at": "2030-03-04T09:00:00Z",
                "end_at": "2030-03-04T09:20:00Z",
            },
        ),
        ("GET", f"/api/v1/encounters/{e}", None),
        ("PATCH", f"/api/v1/encounters/{e}", {"note": "overwritten"}),
        ("POST", f"/api/v1/encounters/{e}/sign", None),
        ("POST", f"/api/v1/encounters/{e}/amendments", {"text": "addendum"}),
        ("POST", "/api/v1/encounters", {"patient_id": p, "note": "x"}),
        ("PATCH", f"/api/v1/users/{u}", {"disabled": True}),
        ("POST", f"/api/v1/users/{u}/password", {"new_password": "a-new-long-password"}),
    ]


def _snapshot(world: World, ids: dict[str, int]) -> dict[str, Any]:
    c, b = world.client, world.b
    p = ids["patient"]
    return {
        "patient": c.get(f"/api/v1/patients/{p}", headers=b.owner).json(),
        "chart": c.get(f"/api/v1/patients/{p}/chart", headers=b.owner).json(),
        "appointment": c.get(f"/api/v1/appointments/{ids['appointment']}", headers=b.owner).json(),
        "encounter": c.get(f"/api/v1/encounters/{ids['encounter']}", headers=b.owner).json(),
        "messages": c.get(f"/api/v1/patients/{p}/messages", headers=b.owner).json(),
        "users": c.get("/api/v1/users", headers=b.owner).json(),
    }


def _swap_ids(path: str, ids: dict[str, int]) -> str:
    for value in ids.values():
        path = path.replace(f"/{value}", f"/{MISSING}")
    return path


def test_other_practice_records_answer_404_like_missing_ones(world: World) -> None:
    c = world.client
    ids = _ids(world)
    before = _snapshot(world, ids)
    for method, path, body in _routes(ids, world.a.owner_id):
        foreign = c.request(method, path, json=body, headers=world.a.owner)
        assert foreign.status_code == 404, (method, path, foreign.text)
        missing_body = body
        if body and "patient_id" in body:
            missing_body = {**body, "patient_id": MISSING}
        missing = c.request(method, _swap_ids(path, ids), json=missing_body, headers=world.a.owner)
        assert foreign.json() == missing.json(), (method, path)
    assert _snapshot(world, ids) == before  # nothing changed in practice B


def test_wrong_role_answers_403(world: World) -> None:
    c, a = world.client, world.a
    p = a.patient_ids[0]
    staff_forbidden = [
        (
            "POST",
            f"/api/v1/patients/{p}/labs",
            {"loinc": "2345-7", "name": "Glucose", "value": 90, "unit": "mg/dL"},
        ),
        ("POST", f"/api/v1/patients/{p}/allergies", {"substance": "Latex"}),
        ("POST", f"/api/v1/patients/{p}/medications", {"name": "Metformin"}),
        ("POST", "/api/v1/encounters", {"patient_id": p, "note": "x"}),
        ("GET", "/api/v1/encounters/1", None),
        ("GET", "/api/v1/users", None),
        (
            "POST",
            "/api/v1/users",
            {
                "email": "x@y.test",
                "display_name": "X",
                "role": "staff",
                "password": "long-enough-password",
            },
        ),
        ("PATCH", f"/api/v1/users/{a.owner_id}", {"disabled": True}),
        ("GET", "/api/v1/audit", None),
        ("POST", "/api/v1/audit/verify", None),
        ("POST", "/api/v1/auth/recovery-codes", None),
    ]
    for method, path, body in staff_forbidden:
        r = c.request(method, path, json=body, headers=a.staff)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"] == "forbidden"
    for method, path, body in staff_forbidden[5:]:
        r = c.request(method, path, json=body, headers=a.clinician)
        assert r.status_code == 403, (method, path, r.text)
    # Everyone can read the day and the chart.
    for headers in (a.staff, a.clinician, a.owner):
        assert c.get(f"/api/v1/schedule?date={SEED_START}", headers=headers).status_code == 200
        assert c.get(f"/api/v1/patients/{p}/chart", headers=headers).status_code == 200


def test_staff_chart_hides_note_text(world: World) -> None:
    c, a = world.client, world.a
    p = a.patient_ids[0]
    staff = c.get(f"/api/v1/patients/{p}/chart", headers=a.staff).json()
    clinician = c.get(f"/api/v1/patients/{p}/chart", headers=a.clinician).json()
    assert staff["recent_encounters"] and all(e["note"] is None for e in staff["recent_encounters"])
    assert all(e["note"] for e in clinician["recent_encounters"])


def test_every_api_route_needs_a_token(world: World) -> None:
    c = world.client
    open_routes = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/recover")}
    checked = 0
    routes = [route for router in api_routers() for route in router.routes]
    for route in routes:
        path = route.path  # type: ignore[attr-defined]
        for method in sorted(route.methods):  # type: ignore[attr-defined]
            if (method, path) in open_routes:
                continue
            concrete = path.replace("{patient_id}", "1").replace("{appointment_id}", "1")
            concrete = concrete.replace("{encounter_id}", "1").replace("{user_id}", "1")
            for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
                r = c.request(method, concrete, headers=headers, json={})
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json()["error"] == "unauthorized"
            checked += 1
    assert checked >= 20
