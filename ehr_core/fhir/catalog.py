"""Which FHIR resource types the EHR serves, where each one's rows come from, who may read it.

A :class:`ResourceType` has one or more :class:`Source` tables (``DocumentReference`` comes
from encounters' notes and from note amendments). Every source query is scoped to one
practice by construction: there is no way to ask the catalog for rows without a practice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row

from ehr_core.fhir import mapping
from ehr_core.fhir.mapping import Resource
from ehr_core.models import (
    Allergy,
    Appointment,
    Encounter,
    LabResult,
    Medication,
    Message,
    NoteAmendment,
    Patient,
    Practice,
    Role,
    User,
)

# As in the REST API: the front desk sees what a chart shows (allergies, medications, labs);
# encounters and their notes are for clinicians and the owner.
ALL_ROLES = frozenset(Role)
CLINICAL_ROLES = frozenset({Role.owner, Role.clinician})


@dataclass(frozen=True, kw_only=True)
class Source:
    """One table feeding a resource type.

    ``query(practice_id)`` selects that practice's rows in id order; ``id_column`` is what a
    FHIR id (after ``id_prefix``) is matched against; ``to_fhir`` maps one result row.
    ``audit_type`` names the record in the audit log (the EHR's own table concept).
    """

    audit_type: str
    query: Callable[[int], Select]
    id_column: Any
    to_fhir: Callable[[Row], Resource]
    id_prefix: str = ""

    def parse_id(self, fhir_id: str) -> int | None:
        """The table id behind ``fhir_id``, or None when the id is not one of this source's."""
        if not fhir_id.startswith(self.id_prefix):
            return None
        rest = fhir_id[len(self.id_prefix) :]
        # Digits only and bounded: a 300-digit id must be a 404, not a database overflow.
        if not rest.isascii() or not rest.isdigit() or len(rest) > 18:
            return None
        return int(rest)


@dataclass(frozen=True, kw_only=True)
class ResourceType:
    name: str
    sources: Sequence[Source]
    read_roles: frozenset[Role]
    #: In the Patient compartment, so part of a Patient-level export.
    patient_compartment: bool = True
    profile: str | None = None


def _scoped(*entities: Any, model: Any, practice_id: int) -> Select:
    return select(*entities).where(model.practice_id == practice_id).order_by(model.id)


def _simple(
    model: Any, to_fhir: Callable[[Any], Resource], audit_type: str, id_prefix: str = ""
) -> Source:
    """``model``'s rows of the practice, each mapped alone by ``to_fhir``."""
    return Source(
        audit_type=audit_type,
        query=lambda pid: _scoped(model, model=model, practice_id=pid),
        id_column=model.id,
        to_fhir=lambda row: to_fhir(row[0]),
        id_prefix=id_prefix,
    )


def _one_table(
    name: str,
    model: Any,
    to_fhir: Callable[[Any], Resource],
    audit_type: str,
    *,
    read_roles: frozenset[Role] = ALL_ROLES,
    patient_compartment: bool = True,
) -> ResourceType:
    """A type fed by one table of the practice, one row a resource, ids the row ids."""
    return ResourceType(
        name=name,
        sources=[_simple(model, to_fhir, audit_type)],
        read_roles=read_roles,
        patient_compartment=patient_compartment,
    )


def _amendments(practice_id: int) -> Select:
    return (
        select(NoteAmendment, Encounter.patient_id)
        .join(Encounter, Encounter.id == NoteAmendment.encounter_id)
        .where(NoteAmendment.practice_id == practice_id)
        .where(Encounter.practice_id == practice_id)
        .order_by(NoteAmendment.id)
    )


RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.name: rt
    for rt in (
        _one_table("Patient", Patient, mapping.patient, "patient"),
        _one_table("Appointment", Appointment, mapping.appointment, "appointment"),
        _one_table(
            "Encounter", Encounter, mapping.encounter, "encounter", read_roles=CLINICAL_ROLES
        ),
        ResourceType(
            name="DocumentReference",
            sources=[
                _simple(Encounter, mapping.progress_note, "encounter", id_prefix="note-"),
                Source(
                    audit_type="note_amendment",
                    query=_amendments,
                    id_column=NoteAmendment.id,
                    id_prefix="amendment-",
                    to_fhir=lambda row: mapping.note_amendment(row[0], row[1]),
                ),
            ],
            read_roles=CLINICAL_ROLES,
        ),
        _one_table("Observation", LabResult, mapping.observation, "lab_result"),
        _one_table("AllergyIntolerance", Allergy, mapping.allergy_intolerance, "allergy"),
        _one_table("MedicationStatement", Medication, mapping.medication_statement, "medication"),
        _one_table("Communication", Message, mapping.communication, "message"),
        _one_table("Practitioner", User, mapping.practitioner, "user", patient_compartment=False),
        ResourceType(
            name="Organization",
            sources=[
                Source(
                    audit_type="practice",
                    query=lambda pid: select(Practice).where(Practice.id == pid),
                    id_column=Practice.id,
                    to_fhir=lambda row: mapping.organization(row[0]),
                )
            ],
            read_roles=ALL_ROLES,
            patient_compartment=False,
        ),
    )
}

#: Types a Patient-level ``$export`` includes (the Patient compartment).
PATIENT_TYPES = tuple(n for n, rt in RESOURCE_TYPES.items() if rt.patient_compartment)
#: Types a system-level ``$export`` includes: everything the practice has.
SYSTEM_TYPES = tuple(RESOURCE_TYPES)


def resource_type(name: str) -> ResourceType | None:
    return RESOURCE_TYPES.get(name)


__all__ = [
    "PATIENT_TYPES",
    "RESOURCE_TYPES",
    "SYSTEM_TYPES",
    "ResourceType",
    "Source",
    "resource_type",
]
