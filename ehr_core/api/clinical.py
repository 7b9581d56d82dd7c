"""``/patients/{id}/labs|allergies|medications``: everyone reads, clinicians write."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from ehr_core.api import API_PREFIX
from ehr_core.api.deps import AuditDep, ClinicalUser, CurrentUser, SessionDep, WritableDep
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


def _patient_page(
    session: SessionDep,
    practice_id: int,
    patient_id: int,
    model: type[clinical.Row],
    public: type[PublicT],
    page: int,
    page_size: int,
) -> Page[PublicT]:
    """One page of a patient's rows of ``model``, as ``public`` models."""
    rows, total = clinical.list_for_patient(
        session, model, practice_id, patient_id, page=page, page_size=page_size
    )
    return Page[public](  # type: ignore[valid-type]
        items=[public.model_validate(r) for r in rows], total=total, page=page, page_size=page_size
    )


@router.get("/labs", response_model=Page[LabPublic])
def list_labs(
    patient_id: Id,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
    page: PageNo = 1,
    page_size: PageSize = 50,
) -> Page[LabPublic]:
    result = _patient_page(
        session, actor.practice_id, patient_id, LabResult, LabPublic, page, page_size
    )
    trail.read("lab.list", "patient", patient_id, patient_id)
    return result


@router.post("/labs", response_model=LabPublic, status_code=201, dependencies=[WritableDep])
def add_lab(
    patient_id: Id, body: LabCreate, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> LabPublic:
    lab = clinical.add_lab(session, actor.practice_id, patient_id, body.model_dump())
    trail.write("lab.create", "lab_result", lab.id, patient_id)
    return LabPublic.model_validate(lab)


@router.get("/allergies", response_model=Page[AllergyPublic])
def list_allergies(
    patient_id: Id,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
    page: PageNo = 1,
    page_size: PageSize = 50,
) -> Page[AllergyPublic]:
    result = _patient_page(
        session, actor.practice_id, patient_id, Allergy, AllergyPublic, page, page_size
    )
    trail.read("allergy.list", "patient", patient_id, patient_id)
    return result


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
def list_medications(
    patient_id: Id,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
    page: PageNo = 1,
    page_size: PageSize = 50,
) -> Page[MedicationPublic]:
    result = _patient_page(
        session, actor.practice_id, patient_id, Medication, MedicationPublic, page, page_size
    )
    trail.read("medication.list", "patient", patient_id, patient_id)
    return result


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
