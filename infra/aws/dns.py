"""Route 53 failover: a health check per region on its ALB's /readyz, PRIMARY/SECONDARY records.

Route 53 failover routing has exactly two roles, so the primary region gets PRIMARY,
the first standby SECONDARY; a third region is reachable by its own name
(``<region>.<app hostname>``) and joins failover when a migration promotes it.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.app import RegionApp
from infra.aws.args import AwsRegionArgs, AwsStackArgs


class FailoverDns(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        apps: dict[str, RegionApp],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:FailoverDns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        standbys = [r for r in stack.regions if r.role != "primary"]
        roles: list[tuple[AwsRegionArgs, str | None]] = [(stack.primary, "PRIMARY")]
        roles += [(r, "SECONDARY" if i == 0 else None) for i, r in enumerate(standbys)]
        self.health_checks: dict[str, aws.route53.HealthCheck] = {}
        for region, role in roles:
            app = apps[region.name]
            check = aws.route53.HealthCheck(
                f"{name}-{region.name}",
                type="HTTPS",
                fqdn=app.alb.dns_name,
                port=443,
                resource_path="/readyz",
                request_interval=10,
                failure_threshold=3,
                measure_latency=True,
                tags=stack.tags_for(f"{name}-{region.name}"),
                opts=child,
            )
            self.health_checks[region.name] = check
            alias = [
                aws.route53.RecordAliasArgs(
                    name=app.alb.dns_name,
                    zone_id=app.alb.zone_id,
                    evaluate_target_health=True,
                )
            ]
            aws.route53.Record(
                f"{name}-{region.name}-direct",
                zone_id=stack.zone_id,
                type="A",
                name=f"{region.name}.{stack.app_hostname}",
                aliases=alias,
                opts=child,
            )
            if role is None:
                continue
            aws.route53.Record(
                f"{name}-{region.name}",
                zone_id=stack.zone_id,
                type="A",
                name=stack.app_hostname,
                set_identifier=region.name,
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=role)],
                health_check_id=check.id,
                aliases=alias,
                opts=child,
            )
        self.register_outputs({})
