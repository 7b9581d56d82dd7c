"""Patients: search, read, create, versioned update, and the one-call chart."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from ehr_core.errors import NotFound, ValidationFailed, VersionConflict
from ehr_core.models import Allergy, Encounter, LabResult, Medication, Patient, utcnow

CONSENT_FIELDS = ("consent_sms", "consent_email")


# The hot read paths use statements built once, with bind parameters: constructing Core
# statements per request costs more CPU than executing them.
_PID: BindParameter[int] = bindparam("p_id")
_PRACTICE: BindParameter[int] = bindparam("p_practice")
_LIMIT: BindParameter[int] = bindparam("p_limit")
_GET = select(Patient).where(Patient.id == _PID, Patient.practice_id == _PRACTICE)
_EXISTS = select(Patient.id).where(Patient.id == _PID, Patient.practice_id == _PRACTICE)
_ALLERGIES = (
    select(Allergy)
    .where(Allergy.practice_id == _PRACTICE, Allergy.patient_id == _PID)
    .order_by(Allergy.id)
)
_MEDICATIONS = (
    select(Medication)
    .where(Medication.practice_id == _PRACTICE, Medication.patient_id == _PID)
    .order_by(Medication.active.desc(), Medication.id)
)
_ENCOUNTERS = (
    select(Encounter)
    .where(Encounter.practice_id == _PRACTICE, Encounter.patient_id == _PID)
    .order_by(Encounter.started_at.desc(), Encounter.id.desc())
    .limit(_LIMIT)
)
_LABS = (
    select(LabResult)
    .where(LabResult.practice_id == _PRACTICE, LabResult.patient_id == _PID)
    .order_by(LabResult.observed_at.desc(), LabResult.id.desc())
    .limit(_LIMIT)
)


def get(session: Session, practice_id: int, patient_id: int) -> Patient:
    patient = session.execute(
        _GET, {"p_id": patient_id, "p_practice": practice_id}
    ).scalar_one_or_none()
    if patient is None:
        raise NotFound("patient")
    return patient


def exists(session: Session, practice_id: int, patient_id: int) -> None:
    """Raise :class:`NotFound` unless the patient belongs to the practice (one cheap query)."""
    found = session.execute(_EXISTS, {"p_id": patient_id, "p_practice": practice_id}).first()
    if found is None:
        raise NotFound("patient")


def search(
    session: Session, practice_id: int, q: str | None, *, page: int, page_size: int
) -> tuple[list[Patient], int]:
    """Patients whose family or given name starts with ``q`` (case-insensitive) or whose
    MRN equals it; all patients when ``q`` is empty. Ordered by name."""
    where: list[Any] = [Patient.practice_id == practice_id]
    if q:
        prefix = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                func.lower(Patient.family_name).like(prefix, escape="\\"),
                func.lower(Patient.given_name).like(prefix, escape="\\"),
                Patient.mrn == q,
            )
        )
    total = session.execute(select(func.count()).select_from(Patient).where(*where)).scalar_one()
    rows = session.execute(
        select(Patient)
        .where(*where)
        .order_by(Patient.family_name, Patient.given_name, Patient.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).scalars()
    return list(rows), int(total)


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


@dataclasses.dataclass(slots=True)
class ChartData:
    patient: Patient
    allergies: list[Allergy]
    medications: list[Medication]
    encounters: list[Encounter]
    labs: list[LabResult]


def chart(session: Session, practice_id: int, patient_id: int, *, recent: int) -> ChartData:
    """Everything a clinician opens first, in five indexed queries (no N+1)."""
    patient = get(session, practice_id, patient_id)
    params = {"p_id": patient_id, "p_practice": practice_id, "p_limit": recent}
    allergies = session.execute(_ALLERGIES, params).scalars()
    medications = session.execute(_MEDICATIONS, params).scalars()
    encounters = session.execute(_ENCOUNTERS, params).scalars()
    labs = session.execute(_LABS, params).scalars()
    return ChartData(patient, list(allergies), list(medications), list(encounters), list(labs))
