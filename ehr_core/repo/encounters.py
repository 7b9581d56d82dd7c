"""Encounters and progress notes: drafts are edited, signed notes are only amended."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ehr_core.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from ehr_core.models import Appointment, Encounter, NoteAmendment, NoteStatus, utcnow
from ehr_core.repo import patients


def get(session: Session, practice_id: int, encounter_id: int) -> Encounter:
    enc = session.execute(
        select(Encounter).where(Encounter.id == encounter_id, Encounter.practice_id == practice_id)
    ).scalar_one_or_none()
    if enc is None:
        raise NotFound("encounter")
    return enc


def amendments(session: Session, practice_id: int, encounter_id: int) -> list[NoteAmendment]:
    return list(
        session.execute(
            select(NoteAmendment)
            .where(
                NoteAmendment.encounter_id == encounter_id,
                NoteAmendment.practice_id == practice_id,
            )
            .order_by(NoteAmendment.id)
        ).scalars()
    )


def create(session: Session, practice_id: int, provider_id: int, data: dict[str, Any]) -> Encounter:
    patients.exists(session, practice_id, data["patient_id"])
    appointment_id = data.get("appointment_id")
    if appointment_id is not None:
        appt = session.execute(
            select(Appointment.patient_id).where(
                Appointment.id == appointment_id, Appointment.practice_id == practice_id
            )
        ).first()
        if appt is None:
            raise NotFound("appointment")
        if appt.patient_id != data["patient_id"]:
            raise ValidationFailed(
                "the appointment belongs to another patient",
                fields=[{"field": "body.appointment_id", "message": "not this patient's"}],
            )
    enc = Encounter(
        practice_id=practice_id,
        patient_id=data["patient_id"],
        appointment_id=appointment_id,
        provider_id=provider_id,
        note=data.get("note", ""),
        status=NoteStatus.draft.value,
        started_at=utcnow(),
        version=1,
    )
    session.add(enc)
    session.flush()
    return enc


def _refuse_signed(enc: Encounter) -> None:
    if enc.status == NoteStatus.signed:
        raise Conflict("the note is signed and cannot be changed; add an amendment instead")


def edit_draft(
    session: Session,
    practice_id: int,
    encounter_id: int,
    note: str,
    *,
    expected_version: int | None,
) -> Encounter:
    enc = get(session, practice_id, encounter_id)
    _refuse_signed(enc)
    version = expected_version if expected_version is not None else enc.version
    # The WHERE on status makes "sign" and "edit" racing each other safe: a note signed
    # a moment ago is never overwritten.
    result = session.execute(
        update(Encounter)
        .where(
            Encounter.id == enc.id,
            Encounter.version == version,
            Encounter.status == NoteStatus.draft.value,
        )
        .values(note=note, version=Encounter.version + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        session.expire_all()
        _refuse_signed(get(session, practice_id, encounter_id))
        raise VersionConflict("the note was changed meanwhile; reload and retry")
    session.expire_all()
    return get(session, practice_id, encounter_id)


def sign(session: Session, practice_id: int, encounter_id: int, signer_id: int) -> Encounter:
    enc = get(session, practice_id, encounter_id)
    if enc.status == NoteStatus.signed:
        raise Conflict("the note is already signed")
    result = session.execute(
        update(Encounter)
        .where(Encounter.id == enc.id, Encounter.status == NoteStatus.draft.value)
        .values(
            status=NoteStatus.signed.value,
            signed_at=utcnow(),
            signed_by=signer_id,
            version=Encounter.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise Conflict("the note is already signed")
    session.expire_all()
    return get(session, practice_id, encounter_id)


def amend(
    session: Session, practice_id: int, encounter_id: int, author_id: int, text: str
) -> NoteAmendment:
    enc = get(session, practice_id, encounter_id)
    if enc.status != NoteStatus.signed:
        raise Conflict("only signed notes are amended; edit the draft instead")
    amendment = NoteAmendment(
        practice_id=practice_id, encounter_id=enc.id, author_id=author_id, text=text
    )
    session.add(amendment)
    session.flush()
    return amendment
