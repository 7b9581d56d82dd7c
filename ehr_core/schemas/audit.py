"""The audit log as the owner reads it."""

from __future__ import annotations

import datetime as dt

from ehr_core.schemas.common import OutputModel


class AuditEntryPublic(OutputModel):
    id: int
    seq: int
    at: dt.datetime
    user_id: int | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: int | None
    remote_addr: str | None
    prev_hash: str
    hash: str


class ChainBreakPublic(OutputModel):
    entry_id: int | None
    seq: int
    reason: str


class AuditVerifyPublic(OutputModel):
    practice_id: int
    ok: bool
    entries_checked: int
    head_seq: int
    first_break: ChainBreakPublic | None
