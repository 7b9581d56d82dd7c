"""``/patients``: search, demographics, versioned updates, and the chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ehr_core.api import API_PREFIX, render
from ehr_core.api.deps import AuditDep, CurrentUser, SessionDep, WritableDep
from ehr_core.api.read_trail import ReadTrail
from ehr_core.errors import ValidationFailed
from ehr_core.models import Role
from ehr_core.repo import patients
from ehr_core.schemas.chart import Chart
from ehr_core.schemas.common import Id, Page
from ehr_core.schemas.patients import PatientCreate, PatientPublic, PatientSummary, PatientUpdate

REQUIRED_FIELDS = ("given_name", "family_name", "birth_date", "sex", "consent_sms", "consent_email")

router = APIRouter(prefix=f"{API_PREFIX}/patients", tags=["patients"])

PageNo = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("", response_model=Page[PatientSummary])
def search_patients(
    trail: ReadTrail,
    q: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    page: PageNo = 1,
    page_size: PageSize = 50,
) -> Response:
    """Patients whose family/given name starts with ``q``, or whose MRN is ``q``."""
    rows, total = patients.search(
        trail.conn,
        trail.actor.practice_id,
        (q or "").strip() or None,
        page=page,
        page_size=page_size,
    )
    # The query string itself is not audited: it may be a patient's name.
    trail.read("patient.search", "patient")
    return render.json_response(render.page(rows, total=total, page=page, page_size=page_size))


@router.post("", response_model=PatientPublic, status_code=201, dependencies=[WritableDep])
def create_patient(
    body: PatientCreate,
    response: Response,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
) -> PatientPublic:
    patient = patients.create(session, actor.practice_id, body.model_dump())
    trail.write("patient.create", "patient", patient.id, patient.id)
    _etag(response, patient.version)
    return PatientPublic.model_validate(patient)


@router.get("/{patient_id}", response_model=PatientPublic)
def read_patient(patient_id: Id, trail: ReadTrail) -> Response:
    row = patients.read(trail.conn, trail.actor.practice_id, patient_id)
    trail.read("patient.read", "patient", patient_id, patient_id)
    response = render.json_response(row)
    _etag(response, row["version"])
    return response


@router.patch("/{patient_id}", response_model=PatientPublic, dependencies=[WritableDep])
def update_patient(
    patient_id: Id,
    body: PatientUpdate,
    response: Response,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> PatientPublic:
    """Change demographics or consent. Needs the current version (``If-Match`` or
    ``version``); a stale one answers 409 and changes nothing."""
    expected = patients.parse_version(if_match, body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    cleared = sorted(f for f in REQUIRED_FIELDS if f in changes and changes[f] is None)
    if cleared:
        raise ValidationFailed(
            f"required fields cannot be cleared: {', '.join(cleared)}",
            fields=[{"field": f"body.{f}", "message": "may not be null"} for f in cleared],
        )
    patient = patients.update_versioned(
        session, actor.practice_id, patient_id, changes, expected_version=expected
    )
    trail.write("patient.update", "patient", patient_id, patient_id)
    _etag(response, patient.version)
    return PatientPublic.model_validate(patient)


@router.get("/{patient_id}/chart", response_model=Chart)
def read_chart(patient_id: Id, trail: ReadTrail) -> Response:
    """Demographics, allergies, medications, recent encounters and labs in one call."""
    settings = trail.request.app.state.settings
    chart = patients.chart(
        trail.conn,
        trail.actor.practice_id,
        patient_id,
        recent=settings.chart_recent_limit,
        with_notes=trail.actor.role in (Role.owner, Role.clinician),
    )
    trail.read("patient.chart", "patient", patient_id, patient_id)
    return render.json_response(chart)
