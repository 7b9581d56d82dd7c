"""Per-region network: a VPC with public and private subnets in two AZs.

The private subnets have no route to the internet at all (no NAT gateway): the app
tasks reach ECR, CloudWatch Logs, Secrets Manager and S3 through VPC endpoints, so
nothing but the ALB's 443 is open to 0.0.0.0/0.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.args import AwsRegionArgs, AwsStackArgs


@dataclass(frozen=True)
class RegionNetworkArgs:
    stack: AwsStackArgs
    region: AwsRegionArgs


class RegionNetwork(pulumi.ComponentResource):
    """VPC, 2 public subnets (the ALB), 2 private subnets (app tasks and the database)."""

    def __init__(self, name: str, args: RegionNetworkArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("chartguard:aws:RegionNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.stack.tags_for
        subnets = list(ipaddress.ip_network(args.region.cidr).subnets(new_prefix=20))
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.region.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags(f"{name}-vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=tags(f"{name}-igw"), opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tags(f"{name}-public"),
            opts=child,
        )
        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        for i, az in enumerate(args.region.azs):
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=self.vpc.id,
                availability_zone=az,
                cidr_block=str(subnets[i]),
                map_public_ip_on_launch=False,
                tags=tags(f"{name}-public-{i}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=pub.id, route_table_id=public_rt.id, opts=child
            )
            self.public_subnets.append(pub)
        self.private_route_table = aws.ec2.RouteTable(
            f"{name}-private", vpc_id=self.vpc.id, tags=tags(f"{name}-private"), opts=child
        )
        for i, az in enumerate(args.region.azs):
            priv = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=self.vpc.id,
                availability_zone=az,
                cidr_block=str(subnets[2 + i]),
                tags=tags(f"{name}-private-{i}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}",
                subnet_id=priv.id,
                route_table_id=self.private_route_table.id,
                opts=child,
            )
            self.private_subnets.append(priv)
        self.register_outputs({"vpc_id": self.vpc.id})
