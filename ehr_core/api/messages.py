"""``/patients/{id}/messages``: one patient at a time, with recorded opt-in only."""

from __future__ import annotations

from fastapi import APIRouter

from ehr_core.api import API_PREFIX
from ehr_core.api.deps import AuditDep, CurrentUser, SessionDep, WritableDep
from ehr_core.repo import messages
from ehr_core.schemas.chart import MessageCreate, MessagePublic
from ehr_core.schemas.common import Id

router = APIRouter(prefix=API_PREFIX + "/patients/{patient_id}/messages", tags=["messages"])


@router.post("", response_model=MessagePublic, status_code=201, dependencies=[WritableDep])
def send_message(
    patient_id: Id, body: MessageCreate, actor: CurrentUser, session: SessionDep, trail: AuditDep
) -> MessagePublic:
    """Queue a message to the patient; 409 ``consent_required`` without opt-in."""
    message = messages.send(
        session, actor.practice_id, patient_id, actor.user_id, body.channel, body.body
    )
    trail.write("message.create", "message", message.id, patient_id)
    return MessagePublic.model_validate(message)


@router.get("", response_model=list[MessagePublic])
def list_messages(
    patient_id: Id, actor: CurrentUser, session: SessionDep, trail: AuditDep
) -> list[MessagePublic]:
    result = [
        MessagePublic.model_validate(m)
        for m in messages.list_for_patient(session, actor.practice_id, patient_id)
    ]
    trail.read("message.list", "patient", patient_id, patient_id)
    return result
