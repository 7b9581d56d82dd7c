"""Encounters with their progress note and amendments."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import StringConstraints

from ehr_core.schemas.common import Id, InputModel, LongText, OutputModel, Version

AmendmentText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100_000, pattern=r"^[^\x00]*$"
    ),
]


class EncounterCreate(InputModel):
    patient_id: Id
    appointment_id: Id | None = None
    note: LongText = ""


class EncounterUpdate(InputModel):
    """Replace a draft note. Signed notes refuse this (409): amend them instead."""

    note: LongText
    version: Version | None = None


class AmendmentCreate(InputModel):
    text: AmendmentText


class AmendmentPublic(OutputModel):
    id: int
    author_id: int
    text: str
    created_at: dt.datetime


class EncounterSummary(OutputModel):
    id: int
    patient_id: int
    provider_id: int
    appointment_id: int | None
    started_at: dt.datetime
    status: str
    signed_at: dt.datetime | None


class EncounterPublic(EncounterSummary):
    note: str
    signed_by: int | None
    version: int
    amendments: list[AmendmentPublic] = []


class EncounterListed(EncounterSummary):
    """A row of a patient's full encounter list (clinicians and the owner): with its note
    and version, without amendments (read the encounter for those)."""

    note: str
    version: int
