"""Patients: search, read, create, versioned update, and the one-call chart."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from ehr_core.errors import NotFound, ValidationFailed, VersionConflict
from ehr_core.fastquery import (
    FastQuery,
    PageQuery,
    Queryable,
    Row,
    all_of,
    columns_of,
    count_of,
)
from ehr_core.models import Allergy, Encounter, LabResult, Medication, Patient, utcnow
from ehr_core.schemas.chart import ChartEncounter
from ehr_core.schemas.clinical import AllergyPublic, LabPublic, MedicationPublic
from ehr_core.schemas.patients import PatientPublic, PatientSummary

CONSENT_FIELDS = ("consent_sms", "consent_email")


# The hot read paths use statements built once, with bind parameters: constructing Core
# statements per request costs more CPU than executing them.
_PID: BindParameter[int] = bindparam("p_id")
_PRACTICE: BindParameter[int] = bindparam("p_practice")
_LIMIT: BindParameter[int] = bindparam("p_limit")
_IN_PRACTICE = (Patient.id == _PID, Patient.practice_id == _PRACTICE)
_GET = select(Patient).where(*_IN_PRACTICE)
_EXISTS = FastQuery(select(Patient.id).where(*_IN_PRACTICE))
# The read paths return plain rows in the public models' field order (see fastquery.py).
_READ = FastQuery(select(*columns_of(Patient, PatientPublic)).where(*_IN_PRACTICE))
_ALLERGIES = FastQuery(
    select(*columns_of(Allergy, AllergyPublic))
    .where(Allergy.practice_id == _PRACTICE, Allergy.patient_id == _PID)
    .order_by(Allergy.id)
)
_MEDICATIONS = FastQuery(
    select(*columns_of(Medication, MedicationPublic))
    .where(Medication.practice_id == _PRACTICE, Medication.patient_id == _PID)
    .order_by(Medication.active.desc(), Medication.id)
)
_ENCOUNTERS = FastQuery(
    select(*columns_of(Encounter, ChartEncounter))
    .where(Encounter.practice_id == _PRACTICE, Encounter.patient_id == _PID)
    .order_by(Encounter.started_at.desc(), Encounter.id.desc())
    .limit(_LIMIT)
)
_LABS = FastQuery(
    select(*columns_of(LabResult, LabPublic))
    .where(LabResult.practice_id == _PRACTICE, LabResult.patient_id == _PID)
    .order_by(LabResult.observed_at.desc(), LabResult.id.desc())
    .limit(_LIMIT)
)
_NAME_ORDER = (Patient.family_name, Patient.given_name, Patient.id)
_MATCHES = or_(
    func.lower(Patient.family_name).like(bindparam("p_prefix"), escape="\\"),
    func.lower(Patient.given_name).like(bindparam("p_prefix"), escape="\\"),
    Patient.mrn == bindparam("p_q"),
)
_IN_PRACTICE_ONLY = Patient.practice_id == _PRACTICE
_SEARCH_ALL = PageQuery(
    select(*columns_of(Patient, PatientSummary)).where(_IN_PRACTICE_ONLY).order_by(*_NAME_ORDER),
    count_of(Patient, _IN_PRACTICE_ONLY),
)
_SEARCH = PageQuery(
    select(*columns_of(Patient, PatientSummary))
    .where(_IN_PRACTICE_ONLY, _MATCHES)
    .order_by(*_NAME_ORDER),
    count_of(Patient, _IN_PRACTICE_ONLY, _MATCHES),
)


def get(session: Session, practice_id: int, patient_id: int) -> Patient:
    patient = session.execute(
        _GET, {"p_id": patient_id, "p_practice": practice_id}
    ).scalar_one_or_none()
    if patient is None:
        raise NotFound("patient")
    return patient


def read(db: Queryable, practice_id: int, patient_id: int) -> Row:
    """The patient's demographics (a :class:`PatientPublic` row); 404 when missing or
    another practice's."""
    row = _READ.first(db, {"p_id": patient_id, "p_practice": practice_id})
    if row is None:
        raise NotFound("patient")
    return row


def exists(db: Queryable, practice_id: int, patient_id: int) -> None:
    """Raise :class:`NotFound` unless the patient belongs to the practice (one cheap query)."""
    if _EXISTS.first(db, {"p_id": patient_id, "p_practice": practice_id}) is None:
        raise NotFound("patient")


def search(
    db: Queryable, practice_id: int, q: str | None, *, page: int, page_size: int
) -> tuple[list[Row], int]:
    """Patients (:class:`PatientSummary` rows) whose family or given name starts with
    ``q`` (case-insensitive) or whose MRN equals it; all patients when ``q`` is empty.
    Ordered by name; one statement for the page and its total."""
    params: dict[str, Any] = {"p_practice": practice_id}
    query = _SEARCH_ALL
    if q:
        escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.update(p_prefix=escaped + "%", p_q=q)
        query = _SEARCH
    return query.fetch(db, params, page=page, page_size=page_size)


def create(session: Session, practice_id: int, data: dict[str, Any]) -> Patient:
    data = dict(data)
    mrn = data.pop("mrn", None) or "M" + secrets.token_hex(5).upper()
    now = utcnow()
    consent_at = now if any(data.get(f) for f in CONSENT_FIELDS) else None
    patient = Patient(
        practice_id=practice_id,
        mrn=mrn,
        consent_recorded_at=consent_at,
        version=1,
        created_at=now,
        updated_at=now,
        **data,
    )
    session.add(patient)
    session.flush()
    return patient


def update_versioned(
    session: Session,
    practice_id: int,
    patient_id: int,
    changes: dict[str, Any],
    *,
    expected_version: int,
) -> Patient:
    """Apply ``changes`` only if the stored version is ``expected_version`` (else 409).

    One conditional UPDATE, so two concurrent editors can never both win.
    """
    values = dict(changes)
    if any(f in values for f in CONSENT_FIELDS):
        values["consent_recorded_at"] = utcnow()
    values["updated_at"] = utcnow()
    values["version"] = Patient.version + 1
    result = session.execute(
        update(Patient)
        .where(
            Patient.id == patient_id,
            Patient.practice_id == practice_id,
            Patient.version == expected_version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        current = get(session, practice_id, patient_id)  # 404 when missing or foreign
        raise VersionConflict(
            f"patient was changed meanwhile: version {expected_version} is stale, "
            f"current is {current.version}",
            fields=[{"field": "version", "message": f"current version is {current.version}"}],
        )
    session.expire_all()
    return get(session, practice_id, patient_id)


def parse_version(if_match: str | None, body_version: int | None) -> int:
    """The expected version from ``If-Match`` (``"3"``, ``W/"3"`` or ``3``) or the body."""
    if if_match is not None:
        raw = if_match.strip().removeprefix("W/").strip('"')
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise ValidationFailed(
                "If-Match must be the record's version number",
                fields=[{"field": "header.If-Match", "message": "expected a version number"}],
            )
        return int(raw)
    if body_version is None:
        raise ValidationFailed(
            "updates need the record's version (If-Match header or version field)",
            fields=[{"field": "body.version", "message": "required without If-Match"}],
        )
    return body_version


def chart(
    db: Queryable, practice_id: int, patient_id: int, *, recent: int, with_notes: bool
) -> dict[str, Any]:
    """Everything a clinician opens first (a :class:`~ehr_core.schemas.chart.Chart`
    document): five indexed queries in one round trip; notes only ``with_notes``."""
    params = {"p_id": patient_id, "p_practice": practice_id, "p_limit": recent}
    found, allergies, medications, encounters, labs = all_of(
        db, [(q, params) for q in (_READ, _ALLERGIES, _MEDICATIONS, _ENCOUNTERS, _LABS)]
    )
    if not found:
        raise NotFound("patient")  # the lists of another practice's patient are empty
    if not with_notes:
        for encounter in encounters:
            encounter["note"] = None
    return {
        "patient": found[0],
        "allergies": allergies,
        "medications": medications,
        "recent_encounters": encounters,
        "recent_labs": labs,
    }
