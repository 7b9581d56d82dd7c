"""The status service for on-call SREs: component states, incidents, maintenance, feeds.

Run it with ``chartguard statuspage serve``; see ``docs/interfaces.md`` for its HTTP API.
"""

from monitoring.status.app import create_app
from monitoring.status.client import StatusClient
from monitoring.status.errors import (
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    SignatureError,
    StatusError,
)
from monitoring.status.models import ComponentRef, ComponentState, IncidentStatus
from monitoring.status.settings import StatusSettings
from monitoring.status.signing import SIGNATURE_HEADER, sign, verify
from monitoring.status.store import StatusStore

__all__ = [
    "SIGNATURE_HEADER",
    "ComponentRef",
    "ComponentState",
    "ConfigError",
    "Conflict",
    "IncidentStatus",
    "InvalidInput",
    "NotFound",
    "SignatureError",
    "StatusClient",
    "StatusError",
    "StatusSettings",
    "StatusStore",
    "create_app",
    "sign",
    "verify",
]
