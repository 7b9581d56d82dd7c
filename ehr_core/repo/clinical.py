"""A patient's labs, allergies and medications."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ehr_core.models import Allergy, LabResult, Medication, utcnow
from ehr_core.repo import patients

Row = TypeVar("Row", LabResult, Allergy, Medication)
_Entry = TypeVar("_Entry", Allergy, Medication)


def is_abnormal(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def list_for_patient(
    session: Session,
    model: type[Row],
    practice_id: int,
    patient_id: int,
    *,
    page: int,
    page_size: int,
) -> tuple[list[Row], int]:
    """One page of a patient's rows of ``model`` (newest first) and the total count."""
    patients.exists(session, practice_id, patient_id)
    where = (model.practice_id == practice_id, model.patient_id == patient_id)
    order = model.observed_at.desc() if model is LabResult else model.id.desc()  # type: ignore[attr-defined]
    total = session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    rows = session.execute(
        select(model)
        .where(*where)
        .order_by(order, model.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).scalars()
    return list(rows), int(total)


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
