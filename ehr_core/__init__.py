"""The compact EHR service guarded by chartguard.

Public surface: :func:`create_app`, :class:`Settings`, :class:`Database`, the exception
tree in :mod:`ehr_core.errors`, and for routers of other sub-packages (FHIR) the request
dependencies in :mod:`ehr_core.api.deps` and the audit log in :mod:`ehr_core.audit`.
"""

from ehr_core.app import create_app
from ehr_core.db import Database
from ehr_core.errors import EhrError
from ehr_core.settings import Settings

__all__ = ["Database", "EhrError", "Settings", "create_app"]
