"""FHIR media types, the JSON response class, and the OpenAPI ``responses`` of the routes."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ehr_core.api.errors import ErrorBody

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
#: ``_outputFormat`` values the Bulk Data spec asks servers to accept (all mean NDJSON).
NDJSON_FORMATS = frozenset({FHIR_NDJSON, "application/ndjson", "ndjson"})


class FhirJSONResponse(JSONResponse):
    """A resource (or manifest) as ``application/fhir+json``."""

    media_type = FHIR_JSON


_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


def fhir_ok(description: str, media_type: str = FHIR_JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": _OBJECT}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (the project's one error
    shape, as ``application/json``, also on the FHIR paths)."""
    text = {
        400: "bad request (the field is named)",
        401: "missing or invalid token",
        403: "the caller's role may not do this",
        404: "not found (or another practice's)",
        422: "invalid parameters (the fields are named)",
        429: "an export of this practice is already running",
        500: "the export job failed",
        503: "the database is read-only or unavailable",
    }
    return {code: {"model": ErrorBody, "description": text.get(code, "error")} for code in codes}


__all__ = [
    "FHIR_JSON",
    "FHIR_NDJSON",
    "NDJSON_FORMATS",
    "FhirJSONResponse",
    "errors",
    "fhir_ok",
]
