"""``/patients/{id}/labs|allergies|medications``: everyone reads, clinicians write;
``/patients/{id}/encounters``: every encounter with its note, for clinicians and the owner.

A list route needs no role of its own: its audit trail already requires a signed-in user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ehr_core.api import API_PREFIX, render
from ehr_core.api.deps import AuditDep, ClinicalUser, SessionDep, WritableDep
from ehr_core.api.read_trail import ReadAuditTrail, ReadTrail
from ehr_core.errors import Forbidden
from ehr_core.models import Allergy, Encounter, LabResult, Medication, Role
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
from ehr_core.schemas.encounters import EncounterListed

router = APIRouter(prefix=API_PREFIX + "/patients/{patient_id}", tags=["clinical"])

PageNo = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]


def _patient_page(
    trail: ReadAuditTrail,
    action: str,
    patient_id: int,
    model: type[clinical.Entity],
    *,
    page: int,
    page_size: int,
) -> Response:
    """One page of a patient's rows of ``model`` (as its public model's rows) for the
    trail's user; audited as ``action`` once read (a missing patient is a 404, not an
    entry)."""
    rows, total = clinical.list_for_patient(
        trail.conn,
        model,
        trail.actor.practice_id,
        patient_id,
        page=page,
        page_size=page_size,
    )
    trail.read(action, "patient", patient_id, patient_id)
    return render.json_response(render.page(rows, total=total, page=page, page_size=page_size))


@router.get("/labs", response_model=Page[LabPublic])
def list_labs(
    patient_id: Id, trail: ReadTrail, page: PageNo = 1, page_size: PageSize = 50
) -> Response:
    return _patient_page(
        trail, "lab.list", patient_id, LabResult, page=page, page_size=page_size
    )


@router.post("/labs", response_model=LabPublic, status_code=201, dependencies=[WritableDep])
def add_lab(
    patient_id: Id, body: LabCreate, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> LabPublic:
    lab = clinical.add_lab(session, actor.practice_id, patient_id, body.model_dump())
    trail.write("lab.create", "lab_result", lab.id, patient_id)
    return LabPublic.model_validate(lab)


@router.get("/allergies", response_model=Page[AllergyPublic])
def list_allergies(
    patient_id: Id, trail: ReadTrail, page: PageNo = 1, page_size: PageSize = 50
) -> Response:
    return _patient_page(
        trail, "allergy.list", patient_id, Allergy, page=page, page_size=page_size
    )


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
    patient_id: Id, trail: ReadTrail, page: PageNo = 1, page_size: PageSize = 50
) -> Response:
    return _patient_page(
        trail, "medication.list", patient_id, Medication, page=page, page_size=page_size
    )


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


@router.get("/encounters", response_model=Page[EncounterListed])
def list_encounters(
    patient_id: Id, trail: ReadTrail, page: PageNo = 1, page_size: PageSize = 50
) -> Response:
    """Every encounter of the patient, newest first, with its note (the chart shows only
    the latest few): what an export or a write check pages through."""
    if trail.actor.role not in (Role.owner, Role.clinician):
        raise Forbidden("this action needs one of the roles: clinician, owner")
    return _patient_page(
        trail, "encounter.list", patient_id, Encounter, page=page, page_size=page_size
    )
