"""``GET /fhir/r4/{Type}/{id}``: one resource of the caller's practice, or not found."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ehr_core.errors import Forbidden
from ehr_core.fhir.catalog import RESOURCE_TYPES
from ehr_core.fhir.errors import ResourceNotFound
from ehr_core.fhir.mapping import Resource
from ehr_core.models import Patient


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The resource, plus what the audit log records about the read (ids only)."""

    resource: Resource
    audit_type: str
    record_id: int
    patient_id: int | None


def check_read_role(type_name: str, role: str) -> None:
    """403 when ``role`` may not read ``type_name`` (404 for types we do not serve)."""
    rtype = RESOURCE_TYPES.get(type_name)
    if rtype is None:
        raise ResourceNotFound(type_name)
    if role not in rtype.read_roles:
        allowed = ", ".join(sorted(str(r) for r in rtype.read_roles))
        raise Forbidden(f"reading {type_name} needs one of the roles: {allowed}")


def read_resource(
    session: Session, *, practice_id: int, type_name: str, fhir_id: str
) -> ReadResult:
    """Find ``type_name/fhir_id`` within ``practice_id``.

    A missing record, another practice's record and a malformed id all raise the same
    :class:`ResourceNotFound`, so a caller learns nothing about other practices.
    """
    rtype = RESOURCE_TYPES.get(type_name)
    if rtype is None:
        raise ResourceNotFound(type_name)
    for source in rtype.sources:
        record_id = source.parse_id(fhir_id)
        if record_id is None:
            continue
        row = session.execute(
            source.query(practice_id).where(source.id_column == record_id)
        ).first()
        if row is not None:
            return ReadResult(
                resource=source.to_fhir(row),
                audit_type=source.audit_type,
                record_id=record_id,
                patient_id=_patient_id(row),
            )
    raise ResourceNotFound(type_name)


def _patient_id(row: object) -> int | None:
    entity = row[0]  # type: ignore[index]
    if isinstance(entity, Patient):
        return entity.id
    found = getattr(entity, "patient_id", None)
    if found is None and len(row) > 1:  # type: ignore[arg-type]
        found = row[1]  # type: ignore[index]  # e.g. an amendment's encounter's patient
    return int(found) if found is not None else None


__all__ = ["ReadResult", "check_read_role", "read_resource"]
