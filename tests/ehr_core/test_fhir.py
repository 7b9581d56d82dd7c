"""FHIR R4 reads: every resource type validates, practices are isolated, roles enforced,
reads audited. In-process app on SQLite (``unit``) and on the suite's real PostgreSQL
(``integration``, ``postgres``), seeded by the project's seeder."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select

from ehr_core import Database, Settings, create_app
from ehr_core.fhir import mapping
from ehr_core.fhir.catalog import RESOURCE_TYPES
from ehr_core.models import (
    AuditEntry,
    Encounter,
    LabResult,
    NoteAmendment,
    Patient,
    User,
)
from tests.ehr_core.conftest import TEMPLATE_DB
from tests.ehr_core.test_fhir_helpers import World, build_world

UNIT = pytest.mark.unit


def validate(resource: dict) -> None:
    """Parse with fhir.resources' R4B models (R4B leaves these types as in R4 4.0.1)."""
    model = get_fhir_model_class(resource["resourceType"])
    parsed = model.model_validate(resource)
    assert parsed.id == resource.get("id")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ],
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("fhir")
    db_url = f"sqlite:///{tmp / 'ehr.db'}"
    cluster = None
    name = f"fhir_{uuid.uuid4().hex[:12]}"
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        cluster.create_database(name, template=TEMPLATE_DB)
        db_url = cluster.url(name)
    settings = Settings(
        db_url=db_url,
        region="test-east",
        audit_spool_path=str(tmp / "spool.jsonl"),
        export_dir=str(tmp / "exports"),
    )
    try:
        yield build_world(settings)
    finally:
        if cluster is not None:
            cluster.drop_database(name)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.fixture(scope="module")
def first_ids(world: World) -> dict[str, list[str]]:
    """For each type, FHIR ids of rows of practice 0 (one per source table)."""
    database = Database(world.settings)
    try:
        with database.session() as session:
            ids: dict[str, list[str]] = {}
            for name, rtype in RESOURCE_TYPES.items():
                for source in rtype.sources:
                    row = session.execute(source.query(world.practice_ids[0]).limit(1)).first()
                    assert row is not None, f"no {name} rows seeded"
                    ids.setdefault(name, []).append(source.to_fhir(row)["id"])
            return ids
    finally:
        database.dispose()


def test_every_type_reads_and_validates(
    client: TestClient, world: World, first_ids: dict[str, list[str]]
) -> None:
    for name, ids in first_ids.items():
        for fhir_id in ids:
            resp = client.get(f"/fhir/r4/{name}/{fhir_id}", headers=world.auth("owner@0"))
            assert resp.status_code == 200, (name, resp.text)
            assert resp.headers["content-type"].startswith("application/fhir+json")
            body = resp.json()
            assert body["resourceType"] == name and body["id"] == fhir_id
            validate(body)


def test_metadata_is_a_valid_capability_statement(client: TestClient) -> None:
    resp = client.get("/fhir/r4/metadata")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/fhir+json")
    body = resp.json()
    validate(body)
    served = {r["type"] for r in body["rest"][0]["resource"]}
    assert served == set(RESOURCE_TYPES)
    assert body["rest"][0]["operation"][0]["name"] == "export"


def test_other_practice_reads_look_exactly_like_missing(
    client: TestClient, world: World, first_ids: dict[str, list[str]]
) -> None:
    missing = client.get("/fhir/r4/Patient/999999", headers=world.auth("owner@1"))
    assert missing.status_code == 404
    for name, ids in first_ids.items():
        for fhir_id in ids:
            resp = client.get(f"/fhir/r4/{name}/{fhir_id}", headers=world.auth("owner@1"))
            assert resp.status_code == 404, (name, fhir_id)
            assert resp.json() == {**missing.json(), "detail": f"{name} not found"}
            assert set(resp.json()) == {"error", "detail", "fields"}


def test_roles(client: TestClient, world: World, first_ids: dict[str, list[str]]) -> None:
    for name, ids in first_ids.items():
        rtype = RESOURCE_TYPES[name]
        for who in ("clinician@0", "staff@0"):
            role = who.split("@")[0]
            resp = client.get(f"/fhir/r4/{name}/{ids[0]}", headers=world.auth(who))
            expected = 200 if role in rtype.read_roles else 403
            assert resp.status_code == expected, (name, who, resp.text)
    assert client.get("/fhir/r4/Patient/1").status_code == 401
    bad = client.get("/fhir/r4/Patient/1", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/fhir/r4/Patient/abc", 404),
        ("/fhir/r4/Patient/-1", 404),
        ("/fhir/r4/Patient/99999999999999999999999999", 404),
        ("/fhir/r4/DocumentReference/note-", 404),
        ("/fhir/r4/DocumentReference/17", 404),
        ("/fhir/r4/Observation/note-1", 404),
        ("/fhir/r4/Spaceship/1", 422),
        ("/fhir/r4/Patient/a_b", 422),
    ],
)
def test_bad_ids_are_clear_errors(client: TestClient, world: World, path: str, status: int) -> None:
    resp = client.get(path, headers=world.auth("owner@0"))
    assert resp.status_code == status, resp.text
    assert set(resp.json()) >= {"error", "detail", "fields"}


def test_reads_are_audited_without_phi(
    client: TestClient, world: World, first_ids: dict[str, list[str]]
) -> None:
    obs_id = first_ids["Observation"][0]
    resp = client.get(f"/fhir/r4/Observation/{obs_id}", headers=world.auth("clinician@0"))
    assert resp.status_code == 200
    patient_ref = resp.json()["subject"]["reference"]
    database = Database(world.settings)
    try:
        with database.session() as session:
            entry = session.execute(
                select(AuditEntry)
                .where(AuditEntry.practice_id == world.practice_ids[0])
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            ).scalar_one()
            patient = session.get(Patient, int(patient_ref.split("/")[1]))
            assert patient is not None
    finally:
        database.dispose()
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "fhir_read",
        "lab_result",
        obs_id,
    )
    assert f"Patient/{entry.patient_id}" == patient_ref
    text = " ".join(str(v) for v in vars(entry).values())
    assert patient.family_name not in text and patient.given_name not in text


# --- mapping details, on rows built in memory ------------------------------------------

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _lab(value: float, abnormal: bool) -> LabResult:
    return LabResult(
        id=5, practice_id=1, patient_id=2, loinc="2823-3", name="Potassium", value=value,
        unit="mmol/L", ref_low=3.5, ref_high=5.1, abnormal=abnormal, observed_at=T0,
        created_at=T0,
    )  # fmt: skip


@UNIT
@pytest.mark.parametrize(
    ("value", "abnormal", "code"),
    [(4.2, False, "N"), (6.3, True, "H"), (2.9, True, "L"), (4.0, True, "A")],
)
def test_observation_interpretation(value: float, abnormal: bool, code: str) -> None:
    resource = mapping.observation(_lab(value, abnormal))
    validate(resource)
    assert resource["interpretation"][0]["coding"][0]["code"] == code
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "2823-3",
        "display": "Potassium",
    }
    assert resource["valueQuantity"] == {"value": value, "unit": "mmol/L"}
    assert resource["referenceRange"] == [
        {"low": {"value": 3.5, "unit": "mmol/L"}, "high": {"value": 5.1, "unit": "mmol/L"}}
    ]


@UNIT
def test_notes_and_amendments_are_documents() -> None:
    enc = Encounter(
        id=7, practice_id=1, patient_id=2, provider_id=3, appointment_id=None, started_at=T0,
        note="Signed note ünïcode", status="signed", signed_at=T0, signed_by=3, version=2,
        created_at=T0,
    )  # fmt: skip
    note = mapping.progress_note(enc)
    validate(note)
    assert note["id"] == "note-7" and note["docStatus"] == "final"
    data = note["content"][0]["attachment"]["data"]
    assert base64.b64decode(data).decode() == "Signed note ünïcode"
    amendment = mapping.note_amendment(
        NoteAmendment(id=4, practice_id=1, encounter_id=7, author_id=3, text="fix", created_at=T0),
        patient_id=2,
    )
    validate(amendment)
    assert amendment["relatesTo"][0] == {
        "code": "appends",
        "target": {"reference": "DocumentReference/note-7"},
    }
    assert amendment["subject"] == {"reference": "Patient/2"}
    encounter = mapping.encounter(enc)
    validate(encounter)
    assert encounter["status"] == "finished"


@UNIT
def test_patient_keeps_consent_and_identifiers() -> None:
    row = Patient(
        id=9, practice_id=1, mrn="0000-000009", given_name="Ada", family_name="Abbott",
        birth_date=dt.date(1970, 5, 1), sex="other", phone=None, email="a@example.test",
        address=None, consent_sms=True, consent_email=False, consent_recorded_at=T0,
        version=3, created_at=T0, updated_at=T0,
    )  # fmt: skip
    resource = mapping.patient(row)
    validate(resource)
    assert resource["gender"] == "other" and resource["meta"]["versionId"] == "3"
    assert resource["telecom"] == [{"system": "email", "value": "a@example.test"}]
    consent = {e["url"]: e for e in resource["extension"][0]["extension"]}
    assert consent["sms"]["valueBoolean"] is True and consent["email"]["valueBoolean"] is False
    assert "address" not in resource


@UNIT
def test_practitioner_keeps_role_and_no_credentials() -> None:
    row = User(
        id=3, practice_id=1, email="staff1@practice-0000.test", display_name="Ana Diaz",
        role="staff", password_hash="argon2-hash-must-not-leave", disabled=True, created_at=T0,
    )  # fmt: skip
    resource = mapping.practitioner(row)
    validate(resource)
    assert resource["active"] is False
    assert resource["extension"] == [{"url": mapping.ROLE_EXTENSION, "valueCode": "staff"}]
    assert "argon2" not in json.dumps(resource)
