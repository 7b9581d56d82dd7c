"""The ``local`` deployment target: the whole topology as real processes on one machine.

Each resource has a plain process-manager module (``postgres``, ``haproxy``, ...) with
start/stop/status/reconfigure functions, wrapped by a Pulumi dynamic provider.
"""

from infra.local.errors import (
    CommandError,
    InvalidSpecError,
    LocalTargetError,
    PortInUseError,
    StartError,
)
from infra.local.settings import LocalSettings

__all__ = [
    "CommandError",
    "InvalidSpecError",
    "LocalSettings",
    "LocalTargetError",
    "PortInUseError",
    "StartError",
]
