"""FHIR R4 for the EHR: resource reads, ``metadata`` and the Bulk Data ``$export`` flow.

``router`` is mounted by :func:`ehr_core.create_app`; :data:`RESOURCE_TYPES` lists what is
served and exported; :class:`BulkExports` / :class:`ExportRunner` run exports outside a
request (tests and tools can drive them directly).
"""

from ehr_core.fhir.catalog import PATIENT_TYPES, RESOURCE_TYPES, SYSTEM_TYPES
from ehr_core.fhir.errors import (
    ExportBusy,
    ExportFailed,
    ExportNotFound,
    FhirError,
    InvalidExportRequest,
    ResourceNotFound,
)
from ehr_core.fhir.exports import BulkExports, ExportRequest, JobState
from ehr_core.fhir.jobs import ExportJob, JobStatus
from ehr_core.fhir.routes import router
from ehr_core.fhir.runner import ExportRunner, RunOutcome
from ehr_core.fhir.store import ExportStore

__all__ = [
    "PATIENT_TYPES",
    "RESOURCE_TYPES",
    "SYSTEM_TYPES",
    "BulkExports",
    "ExportBusy",
    "ExportFailed",
    "ExportJob",
    "ExportNotFound",
    "ExportRequest",
    "ExportRunner",
    "ExportStore",
    "FhirError",
    "InvalidExportRequest",
    "JobState",
    "JobStatus",
    "ResourceNotFound",
    "RunOutcome",
    "router",
]
