"""The read routes that serialize their rows themselves (``ehr_core/api/render.py``)
answer exactly what their response models describe: the same keys, the same formats,
nothing more. Each answer must come out of a round trip through its model unchanged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ehr_core.schemas.appointments import Schedule
from ehr_core.schemas.chart import Chart
from ehr_core.schemas.clinical import AllergyPublic, LabPublic, MedicationPublic
from ehr_core.schemas.common import Page
from ehr_core.schemas.patients import PatientPublic, PatientSummary
from tests.ehr_core.conftest import SEED_START, World


def _same_as_model(body: Any, model: type[BaseModel]) -> None:
    assert model.model_validate(body).model_dump(mode="json") == body


def _with_notes(world: World) -> int:
    """A patient of practice A with a chart entry of every kind (a note, a lab, an
    allergy, a medication)."""
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    for path, body in (
        ("/api/v1/encounters", {"patient_id": pid, "note": "Seen for a cough."}),
        (f"/api/v1/patients/{pid}/labs", {"loinc": "2345-7", "name": "Glucose", "value": 101.5,
                                          "unit": "mg/dL", "ref_low": 70.0, "ref_high": 99.0}),
        (f"/api/v1/patients/{pid}/allergies", {"substance": "Latex", "severity": "mild"}),
        (f"/api/v1/patients/{pid}/medications", {"name": "Metformin", "dose": "500 mg"}),
    ):  # fmt: skip
        assert c.post(path, headers=a.clinician, json=body).status_code == 201
    return pid


def test_every_fast_read_answers_its_response_model(world: World) -> None:
    c, a = world.client, world.a
    pid = _with_notes(world)
    checks: list[tuple[str, type[BaseModel]]] = [
        (f"/api/v1/patients/{pid}/chart", Chart),
        (f"/api/v1/patients/{pid}", PatientPublic),
        ("/api/v1/patients?page_size=3", Page[PatientSummary]),
        ("/api/v1/patients?q=a&page=2&page_size=2", Page[PatientSummary]),
        (f"/api/v1/patients/{pid}/labs", Page[LabPublic]),
        (f"/api/v1/patients/{pid}/allergies", Page[AllergyPublic]),
        (f"/api/v1/patients/{pid}/medications?page_size=1", Page[MedicationPublic]),
    ]
    for path, model in checks:
        r = c.get(path, headers=a.clinician)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == "application/json"
        _same_as_model(r.json(), model)
    schedule = c.get(f"/api/v1/schedule?date={SEED_START}", headers=a.staff).json()
    assert schedule["items"], "the seeded day has appointments"
    _same_as_model(schedule, Schedule)
    # Timestamps are UTC with Z, as the models write them.
    assert schedule["items"][0]["start_at"].endswith("Z")


def test_the_chart_hides_notes_from_staff_only(world: World) -> None:
    c, a = world.client, world.a
    pid = _with_notes(world)
    for headers, sees in ((a.clinician, True), (a.owner, True), (a.staff, False)):
        encounters = c.get(f"/api/v1/patients/{pid}/chart", headers=headers).json()[
            "recent_encounters"
        ]
        assert encounters
        assert all((e["note"] is not None) == sees for e in encounters)


def test_an_empty_page_still_counts_and_a_missing_patient_is_404(world: World) -> None:
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    total = c.get(f"/api/v1/patients/{pid}/labs", headers=a.staff).json()["total"]
    beyond = c.get(f"/api/v1/patients/{pid}/labs?page=500", headers=a.staff).json()
    assert beyond == {"items": [], "total": total, "page": 500, "page_size": 50}
    assert c.get("/api/v1/patients/2147483000/labs", headers=a.staff).status_code == 404
    # Another practice's patient is missing too.
    other = world.b.patient_ids[0]
    assert c.get(f"/api/v1/patients/{other}/labs", headers=a.staff).status_code == 404
    assert c.get(f"/api/v1/patients/{other}/chart", headers=a.staff).status_code == 404
