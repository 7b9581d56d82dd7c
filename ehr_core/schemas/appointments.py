"""Appointments and the day's schedule."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import model_validator

from ehr_core.schemas.common import Id, InputModel, OutputModel, ShortText, Timestamp, Version

Status = Literal["booked", "arrived", "done", "cancelled"]
MAX_LENGTH = dt.timedelta(hours=12)


class AppointmentCreate(InputModel):
    patient_id: Id
    provider_id: Id
    start_at: Timestamp
    end_at: Timestamp
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _span(self) -> AppointmentCreate:
        if not (dt.timedelta(0) < self.end_at - self.start_at <= MAX_LENGTH):
            raise ValueError("end_at must be after start_at and at most 12 hours later")
        return self


class AppointmentUpdate(InputModel):
    status: Status | None = None
    start_at: Timestamp | None = None
    end_at: Timestamp | None = None
    provider_id: Id | None = None
    reason: ShortText | None = None
    version: Version | None = None


class AppointmentPublic(OutputModel):
    id: int
    patient_id: int
    provider_id: int
    start_at: dt.datetime
    end_at: dt.datetime
    status: str
    reason: str | None
    version: int


class ScheduleItem(AppointmentPublic):
    patient_given_name: str
    patient_family_name: str
    patient_birth_date: dt.date
    provider_name: str


class Schedule(OutputModel):
    date: dt.date
    timezone: str
    provider_id: int | None
    items: list[ScheduleItem]
