"""Messages to one patient at a time, only over a channel the patient opted into.

There is deliberately no function that messages many patients at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ehr_core.errors import ConsentRequired
from ehr_core.models import Message
from ehr_core.repo import patients


def send(
    session: Session, practice_id: int, patient_id: int, sender_id: int, channel: str, body: str
) -> Message:
    patient = patients.get(session, practice_id, patient_id)
    consented = patient.consent_sms if channel == "sms" else patient.consent_email
    address = patient.phone if channel == "sms" else patient.email
    if not consented:
        raise ConsentRequired(
            f"the patient has not opted in to {channel} messages; record consent first",
            fields=[{"field": f"consent_{channel}", "message": "no recorded opt-in"}],
        )
    if not address:
        raise ConsentRequired(
            f"the patient has no {'phone number' if channel == 'sms' else 'e-mail'} on file",
            fields=[{"field": "phone" if channel == "sms" else "email", "message": "missing"}],
        )
    message = Message(
        practice_id=practice_id,
        patient_id=patient_id,
        sender_id=sender_id,
        channel=channel,
        body=body,
        status="queued",
    )
    session.add(message)
    session.flush()
    return message


def list_for_patient(session: Session, practice_id: int, patient_id: int) -> list[Message]:
    patients.exists(session, practice_id, patient_id)
    return list(
        session.execute(
            select(Message)
            .where(Message.practice_id == practice_id, Message.patient_id == patient_id)
            .order_by(Message.id.desc())
            .limit(200)
        ).scalars()
    )
