"""Rows of the EHR's tables as FHIR R4 resources (plain JSON-ready dicts).

One function per source table. Each reads only the row's own columns (ids, codes, values),
never a relationship, so that an export can stream millions of rows without a query per
row. References use the FHIR id of the referenced row (``Patient/12``, ``Practitioner/3``).

Mapping choices worth knowing (see ``docs/interfaces.md``):

* the progress note of an encounter is a ``DocumentReference`` (``note-<encounter id>``, LOINC
  11506-3), and every amendment of a signed note another one (``amendment-<id>``) that
  ``appends`` to it, so notes and their amendments leave the practice too;
* the patient's contact consent travels as an extension of ``Patient``, an account's role
  (owner, clinician, staff) as an extension of ``Practitioner``;
* ``Appointment.status`` ``done`` is FHIR ``fulfilled``; an encounter whose note is signed is
  ``finished``, one with a draft note ``in-progress``.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

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
    User,
)

Resource = dict[str, Any]

LOINC = "http://loinc.org"
PROGRESS_NOTE = {"system": LOINC, "code": "11506-3", "display": "Progress note"}
CONSENT_EXTENSION = "https://chartguard.dev/fhir/StructureDefinition/contact-consent"
ROLE_EXTENSION = "https://chartguard.dev/fhir/StructureDefinition/account-role"
MRN_SYSTEM = "urn:chartguard:mrn"
PRACTICE_SYSTEM = "urn:chartguard:practice"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"

_GENDER = {"male": "male", "m": "male", "female": "female", "f": "female", "other": "other"}
_APPOINTMENT_STATUS = {
    "booked": "booked",
    "arrived": "arrived",
    "done": "fulfilled",
    "cancelled": "cancelled",
}
_MESSAGE_STATUS = {
    "queued": "preparation",
    "sending": "in-progress",
    "sent": "completed",
    "delivered": "completed",
    "failed": "stopped",
}
_MEDIUM = {
    "sms": {"system": _PARTICIPATION_MODE, "code": "SMSWRIT", "display": "SMS message"},
    "email": {"system": _PARTICIPATION_MODE, "code": "EMAILWRIT", "display": "email"},
}
_CRITICALITY = {"mild": "low", "moderate": "low", "severe": "high"}


def instant(value: dt.datetime) -> str:
    """A FHIR instant (always with a zone; the models hand out aware UTC datetimes)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def ref(resource_type: str, rid: int | str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{rid}"}


def _meta(updated: dt.datetime | None, version: int | None = None) -> dict[str, str]:
    meta: dict[str, str] = {}
    if version is not None:
        meta["versionId"] = str(version)
    if updated is not None:
        meta["lastUpdated"] = instant(updated)
    return meta


def _drop_empty(resource: Resource) -> Resource:
    """FHIR forbids empty elements ("" , [], {}): leave them out instead."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


def organization(row: Practice) -> Resource:
    return _drop_empty(
        {
            "resourceType": "Organization",
            "id": str(row.id),
            "meta": _meta(row.created_at),
            "identifier": [{"system": PRACTICE_SYSTEM, "value": row.slug}],
            "active": True,
            "name": row.name,
        }
    )


def practitioner(row: User) -> Resource:
    """Every account of the practice (owner, clinicians, staff), without any credential."""
    return _drop_empty(
        {
            "resourceType": "Practitioner",
            "id": str(row.id),
            "meta": _meta(row.created_at),
            "extension": [{"url": ROLE_EXTENSION, "valueCode": row.role}],
            "active": not row.disabled,
            "name": [{"text": row.display_name}],
            "telecom": [{"system": "email", "value": row.email, "use": "work"}],
        }
    )


def patient(row: Patient) -> Resource:
    telecom = []
    if row.phone:
        telecom.append({"system": "phone", "value": row.phone})
    if row.email:
        telecom.append({"system": "email", "value": row.email})
    consent: list[dict[str, Any]] = [
        {"url": "sms", "valueBoolean": bool(row.consent_sms)},
        {"url": "email", "valueBoolean": bool(row.consent_email)},
    ]
    if row.consent_recorded_at is not None:
        consent.append({"url": "recorded", "valueDateTime": instant(row.consent_recorded_at)})
    return _drop_empty(
        {
            "resourceType": "Patient",
            "id": str(row.id),
            "meta": _meta(row.updated_at, row.version),
            "extension": [{"url": CONSENT_EXTENSION, "extension": consent}],
            "identifier": [
                {
                    "use": "usual",
                    "type": {"text": "Medical record number"},
                    "system": MRN_SYSTEM,
                    "value": row.mrn,
                }
            ],
            "name": [{"use": "official", "family": row.family_name, "given": [row.given_name]}],
            "telecom": telecom,
            "gender": _GENDER.get((row.sex or "").lower(), "unknown"),
            "birthDate": row.birth_date.isoformat(),
            "address": [{"text": row.address}] if row.address else [],
        }
    )


def appointment(row: Appointment) -> Resource:
    return _drop_empty(
        {
            "resourceType": "Appointment",
            "id": str(row.id),
            "meta": _meta(row.created_at, row.version),
            "status": _APPOINTMENT_STATUS.get(row.status, "booked"),
            "reasonCode": [{"text": row.reason}] if row.reason else [],
            "start": instant(row.start_at),
            "end": instant(row.end_at),
            "created": row.created_at.date().isoformat() if row.created_at else None,
            "participant": [
                {"actor": ref("Patient", row.patient_id), "status": "accepted"},
                {"actor": ref("Practitioner", row.provider_id), "status": "accepted"},
            ],
        }
    )


def encounter(row: Encounter) -> Resource:
    return _drop_empty(
        {
            "resourceType": "Encounter",
            "id": str(row.id),
            "meta": _meta(row.created_at, row.version),
            "status": "finished" if row.status == "signed" else "in-progress",
            "class": {"system": _ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "subject": ref("Patient", row.patient_id),
            "participant": [{"individual": ref("Practitioner", row.provider_id)}],
            "appointment": ([ref("Appointment", row.appointment_id)] if row.appointment_id else []),
            "period": {"start": instant(row.started_at)},
        }
    )


def _text_attachment(text: str) -> dict[str, str]:
    return {
        "contentType": "text/plain; charset=utf-8",
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }


def progress_note(row: Encounter) -> Resource:
    """The encounter's progress note (``final`` once signed, ``preliminary`` as a draft)."""
    signed = row.status == "signed"
    return _drop_empty(
        {
            "resourceType": "DocumentReference",
            "id": f"note-{row.id}",
            "meta": _meta(row.signed_at or row.created_at, row.version),
            "status": "current",
            "docStatus": "final" if signed else "preliminary",
            "type": {"coding": [PROGRESS_NOTE], "text": "Progress note"},
            "subject": ref("Patient", row.patient_id),
            "date": instant(row.signed_at or row.started_at),
            "author": [ref("Practitioner", row.provider_id)],
            "authenticator": ref("Practitioner", row.signed_by) if row.signed_by else None,
            "content": [{"attachment": _text_attachment(row.note or "")}],
            "context": {"encounter": [ref("Encounter", row.id)]},
        }
    )


def note_amendment(row: NoteAmendment, patient_id: int) -> Resource:
    """An amendment of a signed note: a document that ``appends`` to the note."""
    return _drop_empty(
        {
            "resourceType": "DocumentReference",
            "id": f"amendment-{row.id}",
            "meta": _meta(row.created_at),
            "status": "current",
            "docStatus": "amended",
            "type": {"coding": [PROGRESS_NOTE], "text": "Progress note amendment"},
            "subject": ref("Patient", patient_id),
            "date": instant(row.created_at),
            "author": [ref("Practitioner", row.author_id)],
            "relatesTo": [
                {"code": "appends", "target": ref("DocumentReference", f"note-{row.encounter_id}")}
            ],
            "content": [{"attachment": _text_attachment(row.text)}],
            "context": {"encounter": [ref("Encounter", row.encounter_id)]},
        }
    )


def _interpretation(row: LabResult) -> dict[str, Any]:
    if not row.abnormal:
        code, display = "N", "Normal"
    elif row.ref_high is not None and row.value > row.ref_high:
        code, display = "H", "High"
    elif row.ref_low is not None and row.value < row.ref_low:
        code, display = "L", "Low"
    else:
        code, display = "A", "Abnormal"
    return {"coding": [{"system": _INTERPRETATION, "code": code, "display": display}]}


def observation(row: LabResult) -> Resource:
    """A laboratory result: LOINC code, value with unit, reference range, interpretation."""
    reference_range: dict[str, Any] = {}
    if row.ref_low is not None:
        reference_range["low"] = {"value": row.ref_low, "unit": row.unit}
    if row.ref_high is not None:
        reference_range["high"] = {"value": row.ref_high, "unit": row.unit}
    return _drop_empty(
        {
            "resourceType": "Observation",
            "id": str(row.id),
            "meta": _meta(row.created_at),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": _OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}
                    ]
                }
            ],
            "code": {
                "coding": [{"system": LOINC, "code": row.loinc, "display": row.name}],
                "text": row.name,
            },
            "subject": ref("Patient", row.patient_id),
            "effectiveDateTime": instant(row.observed_at),
            "issued": instant(row.created_at) if row.created_at else None,
            "valueQuantity": {"value": row.value, "unit": row.unit},
            "interpretation": [_interpretation(row)],
            "referenceRange": [reference_range] if reference_range else [],
        }
    )


def allergy_intolerance(row: Allergy) -> Resource:
    severity = row.severity if row.severity in _CRITICALITY else None
    reaction: dict[str, Any] = {}
    if row.reaction or severity:
        # FHIR requires a manifestation on every reaction; say so when none was recorded.
        reaction = {"manifestation": [{"text": row.reaction or "not recorded"}]}
        if severity:
            reaction["severity"] = severity
    return _drop_empty(
        {
            "resourceType": "AllergyIntolerance",
            "id": str(row.id),
            "meta": _meta(row.recorded_at),
            "clinicalStatus": {
                "coding": [{"system": _ALLERGY_CLINICAL, "code": "active", "display": "Active"}]
            },
            "criticality": _CRITICALITY.get(row.severity or ""),
            "code": {"text": row.substance},
            "patient": ref("Patient", row.patient_id),
            "recordedDate": instant(row.recorded_at),
            "reaction": [reaction] if reaction else [],
        }
    )


def medication_statement(row: Medication) -> Resource:
    dosage: dict[str, Any] = {}
    if row.dose:
        dosage["text"] = row.dose
    if row.frequency:
        dosage["timing"] = {"code": {"text": row.frequency}}
    return _drop_empty(
        {
            "resourceType": "MedicationStatement",
            "id": str(row.id),
            "meta": _meta(row.recorded_at),
            "status": "active" if row.active else "stopped",
            "medicationCodeableConcept": {"text": row.name},
            "subject": ref("Patient", row.patient_id),
            "effectivePeriod": {"start": row.started_on.isoformat()} if row.started_on else {},
            "dateAsserted": instant(row.recorded_at),
            "dosage": [dosage] if dosage else [],
        }
    )


def communication(row: Message) -> Resource:
    status = _MESSAGE_STATUS.get(row.status, "unknown")
    return _drop_empty(
        {
            "resourceType": "Communication",
            "id": str(row.id),
            "meta": _meta(row.created_at),
            "status": status,
            "medium": [{"coding": [_MEDIUM[row.channel]]}] if row.channel in _MEDIUM else [],
            "subject": ref("Patient", row.patient_id),
            "recipient": [ref("Patient", row.patient_id)],
            "sender": ref("Practitioner", row.sender_id),
            "sent": instant(row.created_at) if status == "completed" else None,
            "payload": [{"contentString": row.body}],
        }
    )


__all__ = [
    "CONSENT_EXTENSION",
    "ROLE_EXTENSION",
    "Resource",
    "allergy_intolerance",
    "appointment",
    "communication",
    "encounter",
    "instant",
    "medication_statement",
    "note_amendment",
    "observation",
    "organization",
    "patient",
    "practitioner",
    "progress_note",
    "ref",
]
