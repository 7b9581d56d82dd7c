"""``/patients/{id}/labs|allergies|medications``: everyone reads, clinicians write.

A list route needs no role of its own: its audit trail already requires a signed-in user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query

from ehr_core.api import API_PREFIX
from ehr_core.api.deps import AuditDep, AuditTrail, ClinicalUser, SessionDep, WritableDep
from ehr_core.models import Allergy, LabResult, Medication
from ehr_core.repo import clinical
from ehr_core.schemas.clinical import (
    AllergyCreate,
    AllergyPublic,
    LabCreate,
    LabPublic,
    MedicationCreate,
    MedicationPublic,
)
from ehr_core.schemas.common import Id, Page

router = APIRouter(prefix=API_PREFIX + "/patients/{patient_id}", tags=["clinical"])

PageNo = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]
PublicT = TypeVar("PublicT", LabPublic, AllergyPublic, MedicationPublic)


@dataclass(frozen=True, kw_only=True)
class Paging:
    """A list route's ``page`` (from 1) and ``page_size`` query parameters."""

    page: int
    page_size: int


def paging(page: PageNo = 1, page_size: PageSize = 50) -> Paging:
    return Paging(page=page, page_size=page_size)


PagingDep = Annotated[Paging, Depends(paging)]


def _patient_page(
    trail: AuditTrail,
    action: str,
    patient_id: int,
    model: type[clinical.Row],
    public: type[PublicT],
    paging: Paging,
) -> Page[PublicT]:
    """One page of a patient's rows of ``model``, as ``public`` models, for the trail's
    user; audited as ``action`` once read (a missing patient is a 404, not an entry)."""
    rows, total = clinical.list_for_patient(
        trail.session,
        model,
        trail.actor.practice_id,
        patient_id,
        page=paging.page,
        page_size=paging.page_size,
    )
    result = Page[public](  # type: ignore[valid-type]
        items=[public.model_validate(r) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
    trail.read(action, "patient", patient_id, patient_id)
    return result


@router.get("/labs", response_model=Page[LabPublic])
def list_labs(patient_id: Id, trail: AuditDep, paging: PagingDep) -> Page[LabPublic]:
    return _patient_page(trail, "lab.list", patient_id, LabResult, LabPublic, paging)


@router.post("/labs", response_model=LabPublic, status_code=201, dependencies=[WritableDep])
def add_lab(
    patient_id: Id, body: LabCreate, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> LabPublic:
    lab = clinical.add_lab(session, actor.practice_id, patient_id, body.model_dump())
    trail.write("lab.create", "lab_result", lab.id, patient_id)
    return LabPublic.model_validate(lab)


@router.get("/allergies", response_model=Page[AllergyPublic])
def list_allergies(patient_id: Id, trail: AuditDep, paging: PagingDep) -> Page[AllergyPublic]:
    return _patient_page(trail, "allergy.list", patient_id, Allergy, AllergyPublic, paging)


@router.post(
    "/allergies", response_model=AllergyPublic, status_code=201, dependencies=[WritableDep]
)
def add_allergy(
    patient_id: Id, body: AllergyCreate, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> AllergyPublic:
    allergy = clinical.add_allergy(session, actor.practice_id, patient_id, body.model_dump())
    trail.write("allergy.create", "allergy", allergy.id, patient_id)
    return AllergyPublic.model_validate(allergy)


@router.get("/medications", response_model=Page[MedicationPublic])
def list_medications(patient_id: Id, trail: AuditDep, paging: PagingDep) -> Page[MedicationPublic]:
    return _patient_page(trail, "medication.list", patient_id, Medication, MedicationPublic, paging)


@router.post(
    "/medications", response_model=MedicationPublic, status_code=201, dependencies=[WritableDep]
)
def add_medication(
    patient_id: Id,
    body: MedicationCreate,
    actor: ClinicalUser,
    session: SessionDep,
    trail: AuditDep,
) -> MedicationPublic:
    med = clinical.add_medication(session, actor.practice_id, patient_id, body.model_dump())
    trail.write("medication.create", "medication", med.id, patient_id)
    return MedicationPublic.model_validate(med)
