"""``/audit``: the owner reads and verifies the practice's hash-chained log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from ehr_core import audit
from ehr_core.api import API_PREFIX
from ehr_core.api.deps import OwnerUser, SessionDep
from ehr_core.models import AuditEntry
from ehr_core.schemas.audit import AuditEntryPublic, AuditVerifyPublic
from ehr_core.schemas.common import MAX_ID, Page

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntryPublic])
def read_audit(
    actor: OwnerUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[AuditEntryPublic]:
    """Newest first; optionally only the entries about one patient."""
    where = [AuditEntry.practice_id == actor.practice_id]
    if patient_id is not None:
        where.append(AuditEntry.patient_id == patient_id)
    total = session.execute(select(func.count()).select_from(AuditEntry).where(*where)).scalar_one()
    rows = session.execute(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.seq.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).scalars()
    return Page[AuditEntryPublic](
        items=[AuditEntryPublic.model_validate(r) for r in rows],
        total=int(total),
        page=page,
        page_size=page_size,
    )


@router.post("/verify", response_model=AuditVerifyPublic)
def verify_audit(actor: OwnerUser, session: SessionDep) -> AuditVerifyPublic:
    """Recompute the practice's whole chain; ``first_break`` names the first bad entry."""
    return AuditVerifyPublic.model_validate(audit.verify(session, actor.practice_id))
