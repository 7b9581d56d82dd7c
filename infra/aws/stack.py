"""The aws target: the topology's regions as real AWS regions, one provider per region."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.alarms import RegionAlarms
from infra.aws.app import RegionApp
from infra.aws.args import AwsStackArgs
from infra.aws.database import RegionDatabase
from infra.aws.dns import FailoverDns
from infra.aws.network import RegionNetwork, RegionNetworkArgs
from infra.aws.secret import DatabaseSecret
from infra.aws.security import RegionSecurity
from infra.aws.storage import BucketReplication, RegionBucket


def deploy(args: AwsStackArgs, *, db_password: pulumi.Input[str]) -> dict[str, Any]:
    """Declare every region's resources; returns the stack outputs (URLs, endpoints)."""
    providers = {r.name: aws.Provider(f"aws-{r.name}", region=r.aws_region) for r in args.regions}
    primary = args.primary

    def opts(region: str) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(provider=providers[region])

    secret = DatabaseSecret(
        "db-password", stack=args, password=db_password, opts=opts(primary.name)
    )
    databases: dict[str, RegionDatabase] = {}
    apps: dict[str, RegionApp] = {}
    buckets: dict[str, RegionBucket] = {}
    # The primary first: every replica names it as its source.
    for region in sorted(args.regions, key=lambda r: r.role != "primary"):
        name = region.name
        network = RegionNetwork(name, RegionNetworkArgs(args, region), opts(name))
        security = RegionSecurity(name, stack=args, region=region, network=network, opts=opts(name))
        databases[name] = RegionDatabase(
            name,
            stack=args,
            region=region,
            network=network,
            security=security,
            source=None if region.role == "primary" else databases[primary.name],
            password=db_password if region.role == "primary" else None,
            opts=opts(name),
        )
        apps[name] = RegionApp(
            name,
            stack=args,
            region=region,
            network=network,
            security=security,
            db_endpoint=databases[name].instance.endpoint,
            password_secret_arn=secret.arn_in(region.aws_region, primary.aws_region),
            opts=opts(name),
        )
        RegionAlarms(
            name,
            stack=args,
            region=region,
            app=apps[name],
            database=databases[name],
            opts=opts(name),
        )
        buckets[name] = RegionBucket(f"{name}-exports", stack=args, region=region, opts=opts(name))
    standby_buckets = [b for n, b in buckets.items() if n != primary.name]
    if standby_buckets:
        BucketReplication(
            "exports-replication",
            stack=args,
            source=buckets[primary.name],
            destinations=standby_buckets,
            opts=opts(primary.name),
        )
    FailoverDns("ehr", stack=args, apps=apps, opts=opts(primary.name))
    return {
        "router_url": f"https://{args.app_hostname}",
        "region_urls": {r.name: f"https://{r.name}.{args.app_hostname}" for r in args.regions},
        "repository_urls": {n: a.repository.repository_url for n, a in apps.items()},
        "db_endpoints": {n: d.instance.endpoint for n, d in databases.items()},
        "export_buckets": {n: b.bucket.id for n, b in buckets.items()},
    }
