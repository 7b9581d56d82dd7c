"""The chartguard Pulumi program (``main: infra/`` in Pulumi.yaml).

The only place that reads ``pulumi.Config``: the ``chartguard:*`` keys become a
validated :class:`~infra.topology.Topology`, which the configured target renders
(``local``: real processes on this machine; ``aws``: the same topology in AWS). The
stack outputs are the URLs every other package needs, DSNs as secrets.

Roles a runbook established after a migration or failover
(``<state_dir>/<stack>/roles.json``, see :mod:`infra.roles`) override the config's
roles, so ``up`` keeps what runs instead of moving the primary back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from infra.outputs import SECRET_OUTPUTS
from infra.roles import apply_roles, read_roles, roles_path
from infra.settings import InfraSettings
from infra.target import deploy_target
from infra.topology import Topology

# Key -> how it is read: text, an integer, or structured (a list or mapping).
TOPOLOGY_KEYS = {
    "target": "text",
    "replication": "text",
    "workers": "int",
    "regions": "object",
    "ports": "object",
    "services": "object",
}
TARGET_KEYS = {
    "portOffset": "int",
    "awsRegions": "object",
    "awsZoneId": "text",
    "appHostname": "text",
    "imageTag": "text",
    "sloProfile": "text",
}


def _read(config: pulumi.Config, keys: dict[str, str]) -> dict[str, Any]:
    readers: dict[str, Callable[[str], Any]] = {
        "text": config.get, "int": config.get_int, "object": config.get_object,
    }
    values = {key: readers[kind](key) for key, kind in keys.items()}
    return {k: v for k, v in values.items() if v is not None}


def _read_config() -> tuple[dict[str, Any], dict[str, Any]]:
    """(topology keys, target keys) from the stack configuration."""
    config = pulumi.Config("chartguard")
    options = _read(config, TARGET_KEYS)
    password = config.get_secret("dbPassword")
    if password is not None:
        options["dbPassword"] = password
    # Plain here because the local target validates it (the default token is refused off
    # the local stack); the status resource stores it as a secret again.
    token = config.get("statusToken")
    if token:
        options["statusToken"] = token
    return _read(config, TOPOLOGY_KEYS), options


def main() -> None:
    topology_config, target_options = _read_config()
    stack = pulumi.get_stack()
    assignment = read_roles(roles_path(InfraSettings().stack_dir(stack)), stack=stack)
    topology = Topology.from_config(apply_roles(topology_config, assignment), stack=stack)
    outputs = deploy_target(topology, options=target_options)
    for key, value in outputs.items():
        pulumi.export(key, pulumi.Output.secret(value) if key in SECRET_OUTPUTS else value)


main()
