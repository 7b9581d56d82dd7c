"""Consent, notes (signed is never overwritten), schedule and chart views."""

from __future__ import annotations

from sqlalchemy import event

from tests.ehr_core.conftest import SEED_START, World


def _new_patient(world: World, **fields: object) -> dict:
    body = {"given_name": "Test", "family_name": "Patient", "birth_date": "1980-05-06", **fields}
    r = world.client.post("/api/v1/patients", headers=world.a.owner, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_no_message_without_recorded_opt_in(world: World) -> None:
    c, a = world.client, world.a
    p = _new_patient(world, phone="+1 555 010 0000", email="t@example.test")
    assert p["consent_recorded_at"] is None
    url = f"/api/v1/patients/{p['id']}/messages"
    r = c.post(url, headers=a.staff, json={"channel": "sms", "body": "Your lab is ready"})
    assert r.status_code == 409
    assert r.json()["error"] == "consent_required"
    assert c.get(url, headers=a.owner).json() == []  # nothing was queued
    # Record SMS opt-in: SMS now works, e-mail still needs its own consent.
    r = c.patch(
        f"/api/v1/patients/{p['id']}",
        headers={**a.staff, "If-Match": '"1"'},
        json={"consent_sms": True},
    )
    assert r.status_code == 200 and r.json()["consent_recorded_at"] is not None
    r = c.post(url, headers=a.staff, json={"channel": "sms", "body": "Your lab is ready"})
    assert r.status_code == 201 and r.json()["status"] == "queued"
    r = c.post(url, headers=a.staff, json={"channel": "email", "body": "Your lab is ready"})
    assert r.status_code == 409 and r.json()["error"] == "consent_required"


def test_there_is_no_bulk_message_route(world: World) -> None:
    paths = world.client.get("/api/v1/openapi.json").json()["paths"]
    message_routes = [p for p in paths if "message" in p]
    assert message_routes == ["/api/v1/patients/{patient_id}/messages"]


def test_signed_note_is_never_overwritten(world: World) -> None:
    c, a = world.client, world.a
    p = _new_patient(world)
    enc = c.post(
        "/api/v1/encounters",
        headers=a.clinician,
        json={"patient_id": p["id"], "note": "first draft"},
    ).json()
    url = f"/api/v1/encounters/{enc['id']}"
    assert c.patch(url, headers=a.clinician, json={"note": "second draft"}).status_code == 200
    signed = c.post(f"{url}/sign", headers=a.clinician)
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    r = c.patch(url, headers=a.owner, json={"note": "rewritten history"})
    assert r.status_code == 409
    assert c.post(f"{url}/sign", headers=a.owner).status_code == 409
    r = c.post(f"{url}/amendments", headers=a.owner, json={"text": "BP re-measured: 128/82"})
    assert r.status_code == 201
    final = c.get(url, headers=a.clinician).json()
    assert final["note"] == "second draft"
    assert [x["text"] for x in final["amendments"]] == ["BP re-measured: 128/82"]


def test_stale_draft_edit_is_a_conflict(world: World) -> None:
    c, a = world.client, world.a
    p = _new_patient(world)
    enc = c.post(
        "/api/v1/encounters", headers=a.clinician, json={"patient_id": p["id"], "note": "v1"}
    ).json()
    url = f"/api/v1/encounters/{enc['id']}"
    assert c.patch(url, headers=a.clinician, json={"note": "v2", "version": 1}).status_code == 200
    r = c.patch(url, headers=a.owner, json={"note": "v2-other", "version": 1})
    assert r.status_code == 409
    assert c.get(url, headers=a.owner).json()["note"] == "v2"


def test_lab_abnormal_flag_from_reference_range(world: World) -> None:
    c, a = world.client, world.a
    p = _new_patient(world)
    url = f"/api/v1/patients/{p['id']}/labs"
    body = {"loinc": "2345-7", "name": "Glucose", "unit": "mg/dL", "ref_low": 70, "ref_high": 99}
    high = c.post(url, headers=a.clinician, json={**body, "value": 182})
    normal = c.post(url, headers=a.clinician, json={**body, "value": 88})
    assert high.json()["abnormal"] is True and normal.json()["abnormal"] is False
    listed = c.get(url, headers=a.staff).json()
    assert listed["total"] == 2 and len(listed["items"]) == 2


def test_appointment_day_flow(world: World) -> None:
    c, a = world.client, world.a
    p = _new_patient(world)
    appt = c.post(
        "/api/v1/appointments",
        headers=a.staff,
        json={
            "patient_id": p["id"],
            "provider_id": a.owner_id,
            "start_at": f"{SEED_START}T18:00:00Z",
            "end_at": f"{SEED_START}T18:20:00Z",
            "reason": "follow-up",
        },
    ).json()
    url = f"/api/v1/appointments/{appt['id']}"
    assert c.patch(url, headers=a.staff, json={"status": "arrived"}).json()["status"] == "arrived"
    assert c.patch(url, headers=a.staff, json={"status": "done"}).json()["status"] == "done"
    r = c.patch(url, headers=a.staff, json={"status": "booked"})
    assert r.status_code == 409
    # A staff member cannot book with a non-provider.
    r = c.post(
        "/api/v1/appointments",
        headers=a.staff,
        json={
            "patient_id": p["id"],
            "provider_id": a.staff_id,
            "start_at": f"{SEED_START}T19:00:00Z",
            "end_at": f"{SEED_START}T19:20:00Z",
        },
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "body.provider_id"


def test_schedule_lists_the_day_with_names_in_one_query(world: World) -> None:
    c, a = world.client, world.a
    engine = c.app.state.db.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        r = c.get(f"/api/v1/schedule?date={SEED_START}", headers=a.staff)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    items = r.json()["items"]
    # Owner + 1 clinician, 20-25 appointments each.
    assert 40 <= len(items) <= 50
    assert all(i["patient_family_name"] and i["provider_name"] for i in items)
    assert [i["start_at"] for i in items] == sorted(i["start_at"] for i in items)
    selects = _data_selects(statements)
    # auth + practice zone (first call only, then cached) + schedule + audit head: no query
    # per appointment.
    assert len(selects) <= 4, selects
    one = c.get(f"/api/v1/schedule?date={SEED_START}&provider_id={a.owner_id}", headers=a.staff)
    assert {i["provider_id"] for i in one.json()["items"]} == {a.owner_id}


def _data_selects(statements: list[str]) -> list[str]:
    """SELECTs of the request itself (not the role probe, which runs at most once a second)."""
    probe = ("SELECT 1", "\nSELECT pg_is_in_recovery()")
    return [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and not s.startswith(probe)
    ]


def test_chart_has_everything_in_a_fixed_number_of_queries(world: World) -> None:
    c, a = world.client, world.a
    engine = c.app.state.db.engine  # type: ignore[attr-defined]
    statements: list[str] = []
    pid = a.patient_ids[0]

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        r = c.get(f"/api/v1/patients/{pid}/chart", headers=a.clinician)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    body = r.json()
    assert r.status_code == 200
    assert body["patient"]["id"] == pid
    assert body["recent_encounters"] and body["recent_labs"]
    assert {"allergies", "medications"} <= set(body)
    selects = _data_selects(statements)
    assert len(selects) <= 7, selects  # auth, patient, 4 sections, audit head


def test_schedule_is_the_practices_local_day(world: World) -> None:
    """Practice 0 is in America/New_York: a 20:30 local appointment (01:30 UTC the next
    day) belongs to the local day's schedule, not to the next one."""
    c, a = world.client, world.a
    p = _new_patient(world)
    appt = c.post(
        "/api/v1/appointments",
        headers=a.staff,
        json={
            "patient_id": p["id"],
            "provider_id": a.owner_id,
            "start_at": "2030-03-05T01:30:00Z",
            "end_at": "2030-03-05T01:50:00Z",
        },
    ).json()
    day = c.get(f"/api/v1/schedule?date={SEED_START}", headers=a.staff).json()
    assert day["timezone"] == "America/New_York"
    assert appt["id"] in {i["id"] for i in day["items"]}
    next_day = c.get("/api/v1/schedule?date=2030-03-05", headers=a.staff).json()
    assert appt["id"] not in {i["id"] for i in next_day["items"]}
    # Seeded clinic hours start at 08:00 local (13:00 UTC in March before DST).
    assert min(i["start_at"] for i in day["items"]) == f"{SEED_START}T13:00:00Z"


def test_patient_lists_page_newest_first_for_every_role_and_are_audited(world: World) -> None:
    c, a = world.client, world.a
    pid = _new_patient(world)["id"]
    added = {
        ("allergies", "substance"): ["Latex", "Penicillin", "Peanut"],
        ("medications", "name"): ["Metformin", "Lisinopril", "Atorvastatin"],
    }
    for (kind, field), values in added.items():
        url = f"/api/v1/patients/{pid}/{kind}"
        for value in values:
            assert c.post(url, headers=a.clinician, json={field: value}).status_code == 201
        second = c.get(f"{url}?page=2&page_size=2", headers=a.staff)
        assert second.status_code == 200
        page = second.json()
        assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)
        assert [item[field] for item in page["items"]] == values[:1]  # newest first
        assert c.get(url, headers=a.staff).json()["page_size"] == 50  # the default
        for bad in ("page=0", "page_size=201", "page=x"):
            r = c.get(f"{url}?{bad}", headers=a.staff)
            assert r.status_code == 422
            assert r.json()["fields"][0]["field"] == "query." + bad.split("=")[0]
        assert c.get(url).status_code == 401
    entries = c.get("/api/v1/audit?page_size=500", headers=a.owner).json()["items"]
    lists = [e["action"] for e in entries if e["patient_id"] == pid and "list" in e["action"]]
    # Two reads of each kind succeeded (page 2, the default page); refused ones left no entry.
    assert sorted(lists) == ["allergy.list"] * 2 + ["medication.list"] * 2
    assert c.get("/api/v1/patients/99999999/labs", headers=a.staff).status_code == 404


def test_every_encounter_is_listed_page_by_page_for_clinicians(world: World) -> None:
    """The chart shows the latest encounters only; the list pages through all of them,
    with each note and version (what a write check or an export needs)."""
    c, a = world.client, world.a
    pid = _new_patient(world)["id"]
    limit = world.client.app.state.settings.chart_recent_limit  # type: ignore[attr-defined]
    made = [
        c.post("/api/v1/encounters", headers=a.clinician,
               json={"patient_id": pid, "note": f"visit {i}"}).json()["id"]
        for i in range(limit + 3)
    ]  # fmt: skip
    chart = c.get(f"/api/v1/patients/{pid}/chart", headers=a.clinician).json()
    assert len(chart["recent_encounters"]) == limit < len(made)
    url = f"/api/v1/patients/{pid}/encounters"
    seen: list[dict] = []
    for page in (1, 2):
        r = c.get(f"{url}?page={page}&page_size={limit}", headers=a.clinician)
        assert r.status_code == 200
        assert r.json()["total"] == len(made)
        seen += r.json()["items"]
    assert sorted(e["id"] for e in seen) == sorted(made)
    assert {e["note"] for e in seen} == {f"visit {i}" for i in range(len(made))}
    assert all(e["version"] == 1 and e["status"] == "draft" for e in seen)
    # Notes are for clinicians and the owner; other practices see nothing.
    assert c.get(url, headers=a.owner).status_code == 200
    assert c.get(url, headers=a.staff).status_code == 403
    assert c.get(url, headers=world.b.clinician).status_code == 404
    entries = c.get("/api/v1/audit?page_size=500", headers=a.owner).json()["items"]
    lists = [e["action"] for e in entries if e["patient_id"] == pid and "list" in e["action"]]
    assert lists == ["encounter.list"] * 3  # two pages and the owner's; no entry when refused
