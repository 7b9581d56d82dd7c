"""The FHIR API's errors: EHR errors, so they leave as the one JSON error shape.

The FHIR paths answer errors as ``{"error","detail","fields"}`` like the rest of the API
(not as an ``OperationOutcome``): one shape for every client, documented in
``docs/interfaces.md``. Messages name parameters and types, never patient data.
"""

from __future__ import annotations

from ehr_core.errors import EhrError, NotFound


class FhirError(EhrError):
    """Base of the FHIR package's errors."""

    status_code = 400
    code = "bad_request"


class ResourceNotFound(NotFound, FhirError):
    """A missing resource, another practice's, or a type we do not serve: all look alike."""


class ExportNotFound(ResourceNotFound):
    def __init__(self) -> None:
        super().__init__("export")


class InvalidExportRequest(FhirError):
    """A kick-off parameter or header we cannot honour (names it in ``fields``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            f"invalid export request: {field}: {message}",
            fields=[{"field": field, "message": message}],
        )


class ExportBusy(FhirError):
    """The practice already has an export running; one at a time keeps the database calm."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "an export of this practice is already in progress; wait for it or cancel it",
            headers={"Retry-After": str(retry_after)},
        )


class ExportFailed(FhirError):
    """The export job stopped on an error (reported on its status URL)."""

    status_code = 500
    code = "export_failed"


__all__ = [
    "ExportBusy",
    "ExportFailed",
    "ExportNotFound",
    "FhirError",
    "InvalidExportRequest",
    "ResourceNotFound",
]
