"""The chartguard Pulumi program (``main: infra/`` in Pulumi.yaml).

The only place that reads ``pulumi.Config``: the ``chartguard:*`` keys become a
validated :class:`~infra.topology.Topology`, which the configured target renders
(``local``: real processes on this machine; ``aws``: the same topology in AWS). The
stack outputs are the URLs every other package needs, DSNs as secrets.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.outputs import SECRET_OUTPUTS, stack_outputs
from infra.target import deploy_target
from infra.topology import Topology

TOPOLOGY_KEYS = ("target", "replication", "workers", "regions", "ports", "services")
TARGET_KEYS = ("awsRegions", "awsZoneId", "appHostname", "imageTag")


def _read_config() -> tuple[dict[str, Any], dict[str, Any]]:
    """(topology keys, every other chartguard key) from the stack configuration."""
    config = pulumi.Config("chartguard")
    topology = {key: config.get_object(key) for key in TOPOLOGY_KEYS}
    # Target-specific keys are passed through untouched; the database password is a secret.
    others: dict[str, Any] = {key: config.get_object(key) for key in TARGET_KEYS}
    others["dbPassword"] = config.get_secret("dbPassword")
    return (
        {k: v for k, v in topology.items() if v is not None},
        {k: v for k, v in others.items() if v is not None},
    )


def main() -> None:
    topology_config, target_options = _read_config()
    topology = Topology.from_config(topology_config, stack=pulumi.get_stack())
    outputs = {**stack_outputs(topology), **deploy_target(topology, options=target_options)}
    for key, value in outputs.items():
        pulumi.export(key, pulumi.Output.secret(value) if key in SECRET_OUTPUTS else value)


main()
