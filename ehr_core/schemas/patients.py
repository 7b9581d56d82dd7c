"""Patient demographics and contact consent: Base / Create / Update / Public."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from ehr_core.schemas.common import (
    Email,
    Id,
    InputModel,
    Name,
    OutputModel,
    Phone,
    ShortText,
    Version,
)

Sex = Literal["female", "male", "other", "unknown"]


def _check_birth_date(value: dt.date | None) -> dt.date | None:
    if value is not None and not (dt.date(1880, 1, 1) <= value <= dt.date.today()):
        raise ValueError("birth_date must be between 1880-01-01 and today")
    return value


class PatientBase(InputModel):
    given_name: Name
    family_name: Name
    birth_date: dt.date
    sex: Sex = "unknown"
    phone: Phone | None = None
    email: Email | None = None
    address: ShortText | None = None
    consent_sms: bool = False
    consent_email: bool = False

    _birth = field_validator("birth_date")(_check_birth_date)


class PatientCreate(PatientBase):
    mrn: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")


class PatientUpdate(InputModel):
    """Only the fields given change. ``version`` (or ``If-Match``) must be the current one."""

    given_name: Name | None = None
    family_name: Name | None = None
    birth_date: dt.date | None = None
    sex: Sex | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: ShortText | None = None
    consent_sms: bool | None = None
    consent_email: bool | None = None
    version: Version | None = None

    _birth = field_validator("birth_date")(_check_birth_date)


class PatientSummary(OutputModel):
    id: Id
    mrn: str
    given_name: str
    family_name: str
    birth_date: dt.date
    sex: str


class PatientPublic(PatientSummary):
    phone: str | None
    email: str | None
    address: str | None
    consent_sms: bool
    consent_email: bool
    consent_recorded_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
