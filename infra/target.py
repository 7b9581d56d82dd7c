"""Dispatch from the topology's ``target`` to that target's ``deploy`` entry point.

``local``: ``infra.local.deploy(topology, options=...)``; ``aws``: the topology rendered
into :class:`infra.aws.AwsStackArgs` and passed to ``infra.aws.deploy``. Each returns
stack outputs that are merged over :func:`infra.outputs.stack_outputs`. Called only
inside the Pulumi program, with options already read from config by ``__main__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import pulumi

from infra.errors import TopologyError
from infra.outputs import stack_outputs
from infra.topology import Topology

__all__ = ["deploy_target"]


def deploy_target(topology: Topology, *, options: Mapping[str, Any]) -> Mapping[str, Any]:
    """Declare ``topology``'s resources with its target; return every stack output.

    A target package without ``deploy`` yet (work in progress) deploys nothing and says
    so in a warning; import errors in a target are not hidden.
    """
    if topology.target == "aws":
        return {**stack_outputs(topology), **_deploy_aws(topology, options)}
    return _deploy_local(topology, options)


def _deploy_local(topology: Topology, options: Mapping[str, Any]) -> dict[str, Any]:
    from infra.local import LocalSettings

    # The offset is resolved here, once, so the exported URLs match what really listens.
    offset = options.get("portOffset")
    if offset is None:
        offset = LocalSettings().port_offset
    options = {**options, "portOffset": offset}
    shifted = topology.with_port_offset(offset) if isinstance(offset, int) else topology
    module = importlib.import_module("infra.local")
    deploy = getattr(module, "deploy", None)
    if deploy is None:
        pulumi.log.warn("the local target has no resources yet: only stack outputs are deployed")
        return stack_outputs(shifted)
    return {**stack_outputs(shifted), **(deploy(topology, options=options) or {})}


def _require(options: Mapping[str, Any], key: str) -> Any:
    if options.get(key) in (None, "", {}):
        raise TopologyError(f"chartguard:{key}: required by the aws target", field=key)
    return options[key]


def _deploy_aws(topology: Topology, options: Mapping[str, Any]) -> Mapping[str, Any]:
    from infra.aws import AwsRegionArgs, AwsStackArgs, deploy

    aws_regions: Mapping[str, str] = _require(options, "awsRegions")
    regions = []
    for i, region in enumerate(topology.regions):
        if region.name not in aws_regions:
            raise TopologyError(
                f"chartguard:awsRegions: no AWS region for region {region.name!r}",
                field="awsRegions",
            )
        regions.append(
            AwsRegionArgs(
                name=region.name,
                aws_region=aws_regions[region.name],
                role=region.role,
                cidr=f"10.{i}.0.0/16",
            )
        )
    args = AwsStackArgs(
        stack=topology.stack,
        regions=regions,
        zone_id=_require(options, "awsZoneId"),
        app_hostname=_require(options, "appHostname"),
        image_tag=options.get("imageTag") or "latest",
        workers=topology.primary.workers,
        tags={"chartguard:replication": topology.replication},
    )
    return deploy(args, db_password=_require(options, "dbPassword"))
