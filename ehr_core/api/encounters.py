"""``/encounters``: notes are drafted, signed, then only amended."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from ehr_core.api import API_PREFIX, render
from ehr_core.api.deps import AuditDep, ClinicalUser, SessionDep, WritableDep
from ehr_core.models import Encounter
from ehr_core.repo import encounters
from ehr_core.schemas.common import Id
from ehr_core.schemas.encounters import (
    AmendmentCreate,
    AmendmentPublic,
    EncounterCreate,
    EncounterPublic,
    EncounterUpdate,
)

router = APIRouter(prefix=f"{API_PREFIX}/encounters", tags=["encounters"])


def _public(session: Session, practice_id: int, enc: Encounter) -> EncounterPublic:
    result = EncounterPublic.model_validate(enc)
    result.amendments = [
        AmendmentPublic.model_validate(a)
        for a in encounters.amendments(session, practice_id, enc.id)
    ]
    return result


@router.post("", response_model=EncounterPublic, status_code=201, dependencies=[WritableDep])
def create_encounter(
    body: EncounterCreate, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> Response:
    enc = encounters.create(session, actor.practice_id, actor.user_id, body.model_dump())
    trail.write("encounter.create", "encounter", enc.id, enc.patient_id)
    # Serialized once (render.py): a progress note is the practice day's common write.
    return render.json_response(EncounterPublic.model_validate(enc), status_code=201)


@router.get("/{encounter_id}", response_model=EncounterPublic)
def read_encounter(
    encounter_id: Id, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> EncounterPublic:
    enc = encounters.get(session, actor.practice_id, encounter_id)
    result = _public(session, actor.practice_id, enc)
    trail.read("encounter.read", "encounter", enc.id, enc.patient_id)
    return result


@router.patch("/{encounter_id}", response_model=EncounterPublic, dependencies=[WritableDep])
def edit_draft(
    encounter_id: Id,
    body: EncounterUpdate,
    actor: ClinicalUser,
    session: SessionDep,
    trail: AuditDep,
) -> EncounterPublic:
    """Replace a draft note; a signed note answers 409 and stays as it was."""
    enc = encounters.edit_draft(
        session, actor.practice_id, encounter_id, body.note, expected_version=body.version
    )
    trail.write("encounter.update", "encounter", enc.id, enc.patient_id)
    return EncounterPublic.model_validate(enc)


@router.post("/{encounter_id}/sign", response_model=EncounterPublic, dependencies=[WritableDep])
def sign_note(
    encounter_id: Id, actor: ClinicalUser, session: SessionDep, trail: AuditDep
) -> EncounterPublic:
    enc = encounters.sign(session, actor.practice_id, encounter_id, actor.user_id)
    trail.write("encounter.sign", "encounter", enc.id, enc.patient_id)
    return EncounterPublic.model_validate(enc)


@router.post(
    "/{encounter_id}/amendments",
    response_model=AmendmentPublic,
    status_code=201,
    dependencies=[WritableDep],
)
def amend_note(
    encounter_id: Id,
    body: AmendmentCreate,
    actor: ClinicalUser,
    session: SessionDep,
    trail: AuditDep,
) -> AmendmentPublic:
    amendment = encounters.amend(session, actor.practice_id, encounter_id, actor.user_id, body.text)
    enc_patient = encounters.get(session, actor.practice_id, encounter_id).patient_id
    trail.write("encounter.amend", "encounter", encounter_id, enc_patient)
    return AmendmentPublic.model_validate(amendment)
