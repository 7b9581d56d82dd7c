"""``/appointments`` and ``/schedule``: the practice's day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ehr_core.api import API_PREFIX, render
from ehr_core.api.deps import AuditDep, CurrentUser, SessionDep, WritableDep
from ehr_core.api.read_trail import ReadTrail
from ehr_core.repo import appointments
from ehr_core.schemas.appointments import (
    AppointmentCreate,
    AppointmentPublic,
    AppointmentUpdate,
    Schedule,
)
from ehr_core.schemas.common import MAX_ID, Day, Id

router = APIRouter(prefix=API_PREFIX, tags=["schedule"])


@router.get("/schedule", response_model=Schedule)
def read_schedule(
    date: Day,
    trail: ReadTrail,
    provider_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The practice's local day of appointments, with patient and provider names, by
    start time (``timezone`` names the practice's zone)."""
    rows, zone = appointments.schedule(trail.conn, trail.actor.practice_id, date, provider_id)
    trail.read("schedule.read", "schedule", date.isoformat())
    return render.json_response(
        {"date": date, "timezone": zone, "provider_id": provider_id, "items": rows}
    )


@router.post(
    "/appointments", response_model=AppointmentPublic, status_code=201, dependencies=[WritableDep]
)
def create_appointment(
    body: AppointmentCreate, actor: CurrentUser, session: SessionDep, trail: AuditDep
) -> AppointmentPublic:
    appt = appointments.create(session, actor.practice_id, body.model_dump())
    trail.write("appointment.create", "appointment", appt.id, appt.patient_id)
    return AppointmentPublic.model_validate(appt)


@router.get("/appointments/{appointment_id}", response_model=AppointmentPublic)
def read_appointment(
    appointment_id: Id, actor: CurrentUser, session: SessionDep, trail: AuditDep
) -> AppointmentPublic:
    appt = AppointmentPublic.model_validate(
        appointments.get(session, actor.practice_id, appointment_id)
    )
    trail.read("appointment.read", "appointment", appt.id, appt.patient_id)
    return appt


@router.patch(
    "/appointments/{appointment_id}", response_model=AppointmentPublic, dependencies=[WritableDep]
)
def update_appointment(
    appointment_id: Id,
    body: AppointmentUpdate,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
) -> AppointmentPublic:
    """Check in, complete, cancel or reschedule. ``version`` is optional here; when given,
    a stale one answers 409."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    appt = appointments.update_appointment(
        session, actor.practice_id, appointment_id, changes, expected_version=body.version
    )
    trail.write("appointment.update", "appointment", appt.id, appt.patient_id)
    return AppointmentPublic.model_validate(appt)
