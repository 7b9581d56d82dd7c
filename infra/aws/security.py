"""Least-privilege security groups and the VPC endpoints the private subnets use.

Only the ALB accepts traffic from 0.0.0.0/0, on 443. App tasks accept only the ALB, the
database accepts only the app tasks, and the app's egress is limited to the database
and the VPC's own endpoints (there is no internet route from the private subnets).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.args import AwsRegionArgs, AwsStackArgs
from infra.aws.network import RegionNetwork

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


class RegionSecurity(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        region: AwsRegionArgs,
        network: RegionNetwork,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:RegionSecurity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc_id = network.vpc.id
        tags = stack.tags_for

        def security_group(
            suffix: str,
            description: str,
            ingress: list[aws.ec2.SecurityGroupIngressArgs] | None = None,
        ) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(
                f"{name}-{suffix}",
                vpc_id=vpc_id,
                description=description,
                ingress=ingress,
                tags=tags(f"{name}-{suffix}"),
                opts=child,
            )

        self.alb = security_group(
            "alb",
            "ALB: HTTPS from practices",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                    description="HTTPS from anywhere",
                )
            ],
        )
        # The other groups start with no rules: the rules below open each path between two.
        self.app = security_group("app", "EHR tasks: only from the ALB")
        self.db = security_group("db", "PostgreSQL: only from the EHR tasks")
        self.endpoints = security_group("endpoints", "VPC endpoints: only from EHR tasks")
        rules = [
            ("alb-to-app", "egress", self.alb, self.app, stack.app_port),
            ("app-from-alb", "ingress", self.app, self.alb, stack.app_port),
            ("app-to-db", "egress", self.app, self.db, 5432),
            ("db-from-app", "ingress", self.db, self.app, 5432),
            ("app-to-endpoints", "egress", self.app, self.endpoints, 443),
            ("endpoints-from-app", "ingress", self.endpoints, self.app, 443),
        ]
        for rule_name, kind, group, peer, port in rules:
            aws.ec2.SecurityGroupRule(
                f"{name}-{rule_name}",
                type=kind,
                security_group_id=group.id,
                source_security_group_id=peer.id,
                protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )
        private_ids = [s.id for s in network.private_subnets]
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc_id,
                service_name=f"com.amazonaws.{region.aws_region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=private_ids,
                security_group_ids=[self.endpoints.id],
                tags=tags(f"{name}-{service}"),
                opts=child,
            )
        # S3 (ECR image layers, exports) through a gateway endpoint on the private routes.
        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region.aws_region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[network.private_route_table.id],
            tags=tags(f"{name}-s3"),
            opts=child,
        )
        aws.ec2.SecurityGroupRule(
            f"{name}-app-to-s3",
            type="egress",
            security_group_id=self.app.id,
            prefix_list_ids=[s3.prefix_list_id],
            protocol="tcp",
            from_port=443,
            to_port=443,
            opts=child,
        )
        self.register_outputs({"alb_sg": self.alb.id, "app_sg": self.app.id, "db_sg": self.db.id})
