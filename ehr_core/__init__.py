"""The compact EHR service guarded by chartguard.

Public surface: :func:`create_app`, :class:`Settings`, :class:`Database`, the exception
tree in :mod:`ehr_core.errors`, and for routers of other sub-packages (FHIR) the request
dependencies in :mod:`ehr_core.api.deps` and the audit log in :mod:`ehr_core.audit`.

Imports are lazy: ``import ehr_core.errors`` must not import prometheus_client before
``chartguard ehr serve`` has set ``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ehr_core.app import create_app
    from ehr_core.db import Database
    from ehr_core.errors import EhrError
    from ehr_core.settings import Settings

_EXPORTS = {
    "create_app": "ehr_core.app",
    "Database": "ehr_core.db",
    "EhrError": "ehr_core.errors",
    "Settings": "ehr_core.settings",
}

__all__ = ["Database", "EhrError", "Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ehr_core' has no attribute {name!r}")
