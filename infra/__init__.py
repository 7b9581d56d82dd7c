"""chartguard infra: the topology model, the Pulumi program and its Automation-API driver.

Importing ``infra`` is cheap: Pulumi is only imported by the modules that drive it
(``infra.automation``, ``infra/__main__.py``) and by the targets.
"""

from infra.errors import (
    InfraError,
    PassphraseError,
    StackError,
    ToolchainError,
    TopologyError,
)
from infra.topology import Endpoint, GlobalServices, Link, Ports, Region, Topology

__all__ = [
    "Endpoint",
    "GlobalServices",
    "InfraError",
    "Link",
    "PassphraseError",
    "Ports",
    "Region",
    "StackError",
    "ToolchainError",
    "Topology",
    "TopologyError",
]
