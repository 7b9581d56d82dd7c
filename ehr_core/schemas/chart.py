"""The one-call patient chart and patient messages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import StringConstraints

from ehr_core.schemas.clinical import AllergyPublic, LabPublic, MedicationPublic
from ehr_core.schemas.common import InputModel, OutputModel
from ehr_core.schemas.encounters import EncounterSummary
from ehr_core.schemas.patients import PatientPublic


class ChartEncounter(EncounterSummary):
    note: str | None = None  # omitted for staff: notes are for clinicians and the owner


class Chart(OutputModel):
    patient: PatientPublic
    allergies: list[AllergyPublic]
    medications: list[MedicationPublic]
    recent_encounters: list[ChartEncounter]
    recent_labs: list[LabPublic]


class MessageCreate(InputModel):
    channel: Literal["sms", "email"]
    body: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=2000, pattern=r"^[^\x00]*$"
        ),
    ]


class MessagePublic(OutputModel):
    id: int
    patient_id: int
    sender_id: int
    channel: str
    body: str
    status: str
    created_at: dt.datetime
