"""The EHR's HTTP layer: dependencies, error handlers and one router per resource.

Helpers for other routers (e.g. FHIR) live in :mod:`ehr_core.api.deps` (``SessionDep``,
``CurrentUser``, ``require_roles``, ``WritableDep``) and :mod:`ehr_core.api.errors`.
"""

API_PREFIX = "/api/v1"

__all__ = ["API_PREFIX"]
