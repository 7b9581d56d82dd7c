"""The ``/fhir/r4`` router: ``metadata``, reads, and the Bulk Data ``$export`` flow.

Route order matters: the fixed paths (``$export``, ``Patient/$export``, ``_export/...``)
come before the generic ``{resource_type}/{resource_id}`` read.
"""

from __future__ import annotations

import enum
import threading
from importlib import metadata as importlib_metadata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from ehr_core.api.deps import AuditDep, CurrentUser, OwnerUser, SessionDep, WritableDep
from ehr_core.fhir.capability import capability_statement
from ehr_core.fhir.catalog import RESOURCE_TYPES
from ehr_core.fhir.exports import STATUS_PATH, BulkExports, parse_request
from ehr_core.fhir.reads import check_read_role, read_resource
from ehr_core.fhir.responses import FHIR_NDJSON, FhirJSONResponse, errors, fhir_ok

PREFIX = "/fhir/r4"
# FHIR ids: 1-64 of [A-Za-z0-9-.]
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
JOB_ID = r"^[0-9a-f]{32}$"

ResourceTypeName = enum.StrEnum(  # type: ignore[misc]
    "ResourceTypeName", {name: name for name in RESOURCE_TYPES}
)

router = APIRouter(prefix=PREFIX, tags=["fhir"])
_exports_lock = threading.Lock()


def get_exports(request: Request) -> BulkExports:
    """This app's export jobs service (created on first use, one per worker process)."""
    state = request.app.state
    exports: BulkExports | None = getattr(state, "fhir_exports", None)
    if exports is None:
        with _exports_lock:
            exports = getattr(state, "fhir_exports", None)
            if exports is None:
                exports = BulkExports.create(state.db, state.settings.export_dir)
                state.fhir_exports = exports
    return exports


ExportsDep = Annotated[BulkExports, Depends(get_exports)]
JobId = Annotated[str, Path(pattern=JOB_ID, description="the export job's id")]


def _software_version() -> str:
    try:
        return importlib_metadata.version("chartguard")
    except importlib_metadata.PackageNotFoundError:
        return "0"


def _fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get(
    "/metadata",
    responses={200: fhir_ok("the CapabilityStatement")},
    summary="FHIR CapabilityStatement",
)
def metadata(request: Request) -> FhirJSONResponse:
    """What this server supports. Public: it holds no patient data."""
    return FhirJSONResponse(capability_statement(_fhir_base(request), _software_version()))


_KICK_OFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "export started; poll the Content-Location URL",
        "headers": {"Content-Location": {"schema": {"type": "string"}}},
    },
    **errors(400, 401, 403, 422, 429, 503),
}
OutputFormat = Annotated[str | None, Query(alias="_outputFormat", max_length=100)]
TypeParam = Annotated[str | None, Query(alias="_type", max_length=2000)]
Since = Annotated[str | None, Query(alias="_since", max_length=100)]
PreferHeader = Annotated[str | None, Header(alias="Prefer", max_length=200)]
AcceptHeader = Annotated[str | None, Header(alias="Accept", max_length=500)]


def _add_kick_off_route(*, level: str, path: str, name: str, summary: str, doc: str) -> None:
    """Register the Bulk Data kick-off ``GET path`` exporting at ``level``; the levels
    share everything else (owner only, parameters, answers)."""

    def kick_off(
        request: Request,
        actor: OwnerUser,
        audit: AuditDep,
        exports: ExportsDep,
        output_format: OutputFormat = None,
        type_param: TypeParam = None,
        since: Since = None,
        prefer: PreferHeader = None,
        accept: AcceptHeader = None,
    ) -> Response:
        parsed = parse_request(
            level=level,
            output_format=output_format,
            type_param=type_param,
            since=since,
            prefer=prefer,
            accept=accept,
        )
        job_id = exports.create_job(
            audit.session,
            practice_id=actor.practice_id,
            user_id=actor.user_id,
            request=parsed,
            request_url=str(request.url),
        )
        # The job row and its audit entry commit together; only then may the runner see it.
        audit.write("fhir_export", "bulk_export", job_id)
        audit.after_commit(lambda: exports.start(job_id))
        status_url = str(request.base_url).rstrip("/") + STATUS_PATH.format(job_id=job_id)
        return Response(status_code=202, headers={"Content-Location": status_url})

    router.add_api_route(
        path,
        kick_off,
        methods=["GET"],
        name=name,  # as a def of that name would be: the OpenAPI operationId keeps it
        description=doc,
        status_code=202,
        response_class=Response,
        responses=_KICK_OFF_RESPONSES,
        dependencies=[WritableDep],
        summary=summary,
    )


_add_kick_off_route(
    level="system",
    path="/$export",
    name="export_system",
    summary="Bulk Data export of the caller's whole practice (owner)",
    doc="Every resource of every type of the practice, and nothing of any other practice.",
)
_add_kick_off_route(
    level="patient",
    path="/Patient/$export",
    name="export_patients",
    summary="Bulk Data export of all the practice's patients' records (owner)",
    doc="The Patient compartment: patients and everything recorded about them.",
)


@router.get(
    "/_export/{job_id}",
    response_model=None,
    responses={
        200: {"description": "the export manifest", "content": {"application/json": {}}},
        202: {"description": "still running; see X-Progress"},
        **errors(401, 403, 404, 422, 500),
    },
    summary="Bulk Data export status (owner)",
)
def export_status(
    job_id: JobId, request: Request, actor: OwnerUser, session: SessionDep, exports: ExportsDep
) -> Response:
    state = exports.status(
        session, practice_id=actor.practice_id, job_id=job_id, base_url=str(request.base_url)
    )
    if state.error is not None:
        return JSONResponse(
            {"error": "export_failed", "detail": state.error, "fields": []}, status_code=500
        )
    if state.manifest is None:
        return Response(status_code=202, headers=state.headers)
    return JSONResponse(state.manifest, headers=state.headers)


@router.delete(
    "/_export/{job_id}",
    status_code=202,
    response_class=Response,
    responses={
        202: {"description": "cancelled, or its files removed"},
        **errors(401, 403, 404, 422),
    },
    summary="Cancel a Bulk Data export or delete its files (owner)",
)
def export_cancel(
    job_id: JobId, actor: OwnerUser, session: SessionDep, exports: ExportsDep
) -> Response:
    exports.cancel(session, practice_id=actor.practice_id, job_id=job_id)
    return Response(status_code=202)


@router.get(
    "/_export/{job_id}/{file_name}",
    responses={
        200: fhir_ok("NDJSON, one resource a line", FHIR_NDJSON),
        **errors(401, 403, 404, 422),
    },
    summary="Download one NDJSON file of a completed export (owner)",
)
def export_file(
    job_id: JobId,
    file_name: Annotated[str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}\.ndjson$")],
    actor: OwnerUser,
    audit: AuditDep,
    exports: ExportsDep,
) -> FileResponse:
    path = exports.file(
        audit.session, practice_id=actor.practice_id, job_id=job_id, file_name=file_name
    )
    audit.read("fhir_export_download", "bulk_export", f"{job_id}:{file_name[:-7]}")
    return FileResponse(path, media_type=FHIR_NDJSON, filename=file_name)


@router.get(
    "/{resource_type}/{resource_id}",
    responses={200: fhir_ok("the resource"), **errors(401, 403, 404, 422)},
    summary="Read one FHIR resource of the caller's practice",
)
def read(
    resource_type: ResourceTypeName,
    resource_id: Annotated[str, Path(pattern=FHIR_ID)],
    actor: CurrentUser,
    session: SessionDep,
    audit: AuditDep,
) -> FhirJSONResponse:
    """One resource; another practice's answers 404 exactly like a missing one."""
    type_name = str(resource_type.value)
    check_read_role(type_name, actor.role)
    found = read_resource(
        session, practice_id=actor.practice_id, type_name=type_name, fhir_id=resource_id
    )
    audit.read("fhir_read", found.audit_type, found.record_id, found.patient_id)
    return FhirJSONResponse(found.resource)


__all__ = ["PREFIX", "router"]
