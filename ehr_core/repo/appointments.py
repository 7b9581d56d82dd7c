"""Appointments, their status transitions, and the day's schedule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ehr_core.errors import Conflict, NotFound, ValidationFailed, VersionConflict
from ehr_core.fastquery import FastQuery, Queryable, Row
from ehr_core.models import Appointment, Patient, Role, User
from ehr_core.repo import patients, practices

# Which status may follow which: a finished or cancelled visit stays so.
TRANSITIONS: dict[str, frozenset[str]] = {
    "booked": frozenset({"booked", "arrived", "done", "cancelled"}),
    "arrived": frozenset({"arrived", "done", "cancelled"}),
    "done": frozenset({"done"}),
    "cancelled": frozenset({"cancelled"}),
}


def check_provider(session: Session, practice_id: int, provider_id: int) -> None:
    found = session.execute(
        select(User.id).where(
            User.id == provider_id,
            User.practice_id == practice_id,
            User.role.in_([Role.owner.value, Role.clinician.value]),
            User.disabled.is_(False),
        )
    ).first()
    if found is None:
        raise ValidationFailed(
            "provider_id is not an active clinician of this practice",
            fields=[{"field": "body.provider_id", "message": "not a provider of this practice"}],
        )


def get(session: Session, practice_id: int, appointment_id: int) -> Appointment:
    appt = session.execute(
        select(Appointment).where(
            Appointment.id == appointment_id, Appointment.practice_id == practice_id
        )
    ).scalar_one_or_none()
    if appt is None:
        raise NotFound("appointment")
    return appt


def create(session: Session, practice_id: int, data: dict[str, Any]) -> Appointment:
    patients.exists(session, practice_id, data["patient_id"])
    check_provider(session, practice_id, data["provider_id"])
    appt = Appointment(practice_id=practice_id, status="booked", version=1, **data)
    session.add(appt)
    session.flush()
    return appt


def update_appointment(
    session: Session,
    practice_id: int,
    appointment_id: int,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
) -> Appointment:
    appt = get(session, practice_id, appointment_id)
    if expected_version is not None and expected_version != appt.version:
        raise VersionConflict(
            f"appointment was changed meanwhile: current version is {appt.version}",
            fields=[{"field": "version", "message": f"current version is {appt.version}"}],
        )
    status = changes.get("status")
    if status is not None and status not in TRANSITIONS[appt.status]:
        raise Conflict(f"an appointment that is {appt.status} cannot become {status}")
    if changes.get("provider_id") is not None:
        check_provider(session, practice_id, changes["provider_id"])
    start = changes.get("start_at") or appt.start_at
    end = changes.get("end_at") or appt.end_at
    if not (dt.timedelta(0) < end - start <= dt.timedelta(hours=12)):
        raise ValidationFailed(
            "end_at must be after start_at and at most 12 hours later",
            fields=[{"field": "body.end_at", "message": "must be after start_at"}],
        )
    values = {k: v for k, v in changes.items() if v is not None}
    values["version"] = appt.version + 1
    # Conditional on the version we read, so a concurrent PATCH cannot be lost.
    result = session.execute(
        update(Appointment)
        .where(Appointment.id == appt.id, Appointment.version == appt.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise VersionConflict("appointment was changed meanwhile; reload and retry")
    session.expire_all()
    return get(session, practice_id, appointment_id)


def _schedule_query(*, by_provider: bool) -> FastQuery:
    """The day's appointments (:class:`~ehr_core.schemas.appointments.ScheduleItem` rows)
    with patient and provider names, in one query."""
    where = [
        Appointment.practice_id == bindparam("p_practice"),
        Appointment.start_at >= bindparam("p_start", type_=Appointment.start_at.type),
        Appointment.start_at < bindparam("p_end", type_=Appointment.start_at.type),
    ]
    if by_provider:
        where.append(Appointment.provider_id == bindparam("p_provider"))
    return FastQuery(
        select(
            Appointment.id,
            Appointment.patient_id,
            Appointment.provider_id,
            Appointment.start_at,
            Appointment.end_at,
            Appointment.status,
            Appointment.reason,
            Appointment.version,
            Patient.given_name.label("patient_given_name"),
            Patient.family_name.label("patient_family_name"),
            Patient.birth_date.label("patient_birth_date"),
            User.display_name.label("provider_name"),
        )
        .join(Patient, Patient.id == Appointment.patient_id)
        .join(User, User.id == Appointment.provider_id)
        .where(*where)
        .order_by(Appointment.start_at, Appointment.provider_id, Appointment.id)
    )


_SCHEDULE = _schedule_query(by_provider=False)
_PROVIDER_SCHEDULE = _schedule_query(by_provider=True)


def schedule(
    db: Queryable, practice_id: int, day: dt.date, provider_id: int | None
) -> tuple[list[Row], str]:
    """The practice's local day of appointments with patient and provider names (one
    query), and the practice's time zone name."""
    zone = practices.zone_of(db, practice_id)
    params: dict[str, Any] = {
        "p_practice": practice_id,
        "p_start": dt.datetime.combine(day, dt.time(0), tzinfo=zone),
        "p_end": dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone),
    }
    if provider_id is None:
        return _SCHEDULE.all(db, params), zone.key
    return _PROVIDER_SCHEDULE.all(db, {**params, "p_provider": provider_id}), zone.key
