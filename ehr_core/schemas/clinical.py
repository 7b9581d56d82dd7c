"""Labs, allergies and medications of a patient."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, FiniteFloat, model_validator

from ehr_core.schemas.common import InputModel, Label, OutputModel, Timestamp


class LabCreate(InputModel):
    loinc: str = Field(pattern=r"^[0-9]{1,7}-[0-9]$", description="LOINC code, e.g. 2345-7")
    name: Label
    value: FiniteFloat
    unit: str = Field(min_length=1, max_length=32, pattern=r"^[^\x00]*$")
    ref_low: FiniteFloat | None = None
    ref_high: FiniteFloat | None = None
    abnormal: bool | None = Field(
        default=None, description="computed from the reference range when omitted"
    )
    observed_at: Timestamp | None = None

    @model_validator(mode="after")
    def _range(self) -> LabCreate:
        if self.ref_low is not None and self.ref_high is not None and self.ref_low > self.ref_high:
            raise ValueError("ref_low must not exceed ref_high")
        return self


class LabPublic(OutputModel):
    id: int
    patient_id: int
    loinc: str
    name: str
    value: float
    unit: str
    ref_low: float | None
    ref_high: float | None
    abnormal: bool
    observed_at: dt.datetime


class AllergyCreate(InputModel):
    substance: Label
    reaction: Label | None = None
    severity: Literal["mild", "moderate", "severe"] = "moderate"


class AllergyPublic(OutputModel):
    id: int
    patient_id: int
    substance: str
    reaction: str | None
    severity: str
    recorded_at: dt.datetime


class MedicationCreate(InputModel):
    name: Label
    dose: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00]*$")
    frequency: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00]*$")
    active: bool = True
    started_on: dt.date | None = None


class MedicationPublic(OutputModel):
    id: int
    patient_id: int
    name: str
    dose: str | None
    frequency: str | None
    active: bool
    started_on: dt.date | None
    recorded_at: dt.datetime
