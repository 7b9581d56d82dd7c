"""A patient's labs, allergies, medications and (listed) encounters."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ehr_core.fastquery import PageQuery, Queryable, Row, columns_of, count_of
from ehr_core.models import Allergy, Encounter, LabResult, Medication, utcnow
from ehr_core.repo import patients
from ehr_core.schemas.clinical import AllergyPublic, LabPublic, MedicationPublic
from ehr_core.schemas.encounters import EncounterListed

Entity = TypeVar("Entity", LabResult, Allergy, Medication, Encounter)
_Entry = TypeVar("_Entry", Allergy, Medication)


def _page_query(entity: type[Entity], public: type[BaseModel]) -> PageQuery:
    """A patient's rows of ``entity`` as ``public`` rows, newest first."""
    where = (
        entity.practice_id == bindparam("p_practice"),
        entity.patient_id == bindparam("p_id"),
    )
    newest = {LabResult: "observed_at", Encounter: "started_at"}.get(entity, "id")
    return PageQuery(
        select(*columns_of(entity, public))
        .where(*where)
        .order_by(getattr(entity, newest).desc(), entity.id.desc()),
        count_of(entity, *where),
    )


_PAGES: dict[type[Any], PageQuery] = {
    LabResult: _page_query(LabResult, LabPublic),
    Allergy: _page_query(Allergy, AllergyPublic),
    Medication: _page_query(Medication, MedicationPublic),
    Encounter: _page_query(Encounter, EncounterListed),
}


def is_abnormal(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def list_for_patient(
    db: Queryable,
    model: type[Entity],
    practice_id: int,
    patient_id: int,
    *,
    page: int,
    page_size: int,
) -> tuple[list[Row], int]:
    """One page of a patient's rows of ``model`` (newest first, as its public model's
    rows) and the total count: one statement, unless the page is empty (then the
    patient must exist in the practice, else 404)."""
    rows, total = _PAGES[model].fetch(
        db, {"p_practice": practice_id, "p_id": patient_id}, page=page, page_size=page_size
    )
    if not rows:
        patients.exists(db, practice_id, patient_id)
    return rows, total


def add_lab(session: Session, practice_id: int, patient_id: int, data: dict[str, Any]) -> LabResult:
    patients.exists(session, practice_id, patient_id)
    data = dict(data)
    if data.get("abnormal") is None:
        data["abnormal"] = is_abnormal(data["value"], data.get("ref_low"), data.get("ref_high"))
    data["observed_at"] = data.get("observed_at") or utcnow()
    lab = LabResult(practice_id=practice_id, patient_id=patient_id, **data)
    session.add(lab)
    session.flush()
    return lab


def add_allergy(
    session: Session, practice_id: int, patient_id: int, data: dict[str, Any]
) -> Allergy:
    return _add_to_chart(session, Allergy, practice_id, patient_id, data)


def add_medication(
    session: Session, practice_id: int, patient_id: int, data: dict[str, Any]
) -> Medication:
    return _add_to_chart(session, Medication, practice_id, patient_id, data)


def _add_to_chart(
    session: Session, model: type[_Entry], practice_id: int, patient_id: int,
    data: dict[str, Any],
) -> _Entry:
    """A new chart entry (allergy, medication) for a patient of this practice."""
    patients.exists(session, practice_id, patient_id)
    entry = model(practice_id=practice_id, patient_id=patient_id, **data)
    session.add(entry)
    session.flush()
    return entry
