"""The server's ``CapabilityStatement`` (``GET /fhir/r4/metadata``)."""

from __future__ import annotations

from typing import Any

from ehr_core.fhir.catalog import RESOURCE_TYPES
from ehr_core.fhir.responses import FHIR_JSON

FHIR_VERSION = "4.0.1"
# When this statement last changed (FHIR requires a date): bump with the catalog.
STATEMENT_DATE = "2026-11-22"
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"


def capability_statement(base_url: str, software_version: str) -> dict[str, Any]:
    """What this server does: read on every catalogued type, and Bulk Data ``$export``."""
    export = {"name": "export", "definition": f"{BULK_DATA}/OperationDefinition/export"}
    resources: list[dict[str, Any]] = []
    for name in RESOURCE_TYPES:
        entry: dict[str, Any] = {"type": name, "interaction": [{"code": "read"}]}
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "export",
                    "definition": f"{BULK_DATA}/OperationDefinition/patient-export",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "chartguard",
        "kind": "instance",
        "instantiates": [f"{BULK_DATA}/CapabilityStatement/bulk-data"],
        "software": {"name": "chartguard EHR", "version": software_version},
        "implementation": {"description": "chartguard EHR FHIR R4 API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Bearer token from POST /api/v1/auth/login; every read "
                    "is scoped to the caller's practice and audited"
                },
                "resource": resources,
                "operation": [export],
            }
        ],
    }


__all__ = ["FHIR_VERSION", "capability_statement"]
