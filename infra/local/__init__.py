"""The ``local`` deployment target: the whole topology as real processes on one machine.

Each resource has a plain process-manager module (``postgres``, ``haproxy``, ...) with
start/stop/status/reconfigure functions, wrapped by a Pulumi dynamic provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.local.errors import (
    CommandError,
    InvalidSpecError,
    LocalTargetError,
    PortInUseError,
    StartError,
)
from infra.local.settings import LocalSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from infra.topology import Topology


def deploy(
    topology: Topology,
    *,
    options: Mapping[str, Any] | None = None,
    settings: LocalSettings | None = None,
) -> dict[str, Any]:
    """Declare the local stack for ``topology`` (see :func:`infra.local.stack.deploy`).

    Imported lazily so the process managers can be used without loading Pulumi.
    """
    from infra.local.stack import deploy as _deploy

    return _deploy(topology, options=options, settings=settings)

__all__ = [
    "CommandError",
    "InvalidSpecError",
    "LocalSettings",
    "LocalTargetError",
    "PortInUseError",
    "StartError",
    "deploy",
]
