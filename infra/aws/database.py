"""RDS PostgreSQL: a Multi-AZ primary and cross-region read replicas, all KMS-encrypted.

The master password comes from the stack's secret config and lives in a Secrets Manager
secret replicated to every region (:mod:`infra.aws.secret`); the app tasks read it from
their own region's replica as ``PGPASSWORD``.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.args import AwsRegionArgs, AwsStackArgs
from infra.aws.network import RegionNetwork
from infra.aws.security import RegionSecurity


class RegionDatabase(pulumi.ComponentResource):
    """The primary (``source`` is None) or a read replica of ``source`` in another region."""

    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        region: AwsRegionArgs,
        network: RegionNetwork,
        security: RegionSecurity,
        source: RegionDatabase | None,
        password: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:RegionDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack.tags_for
        self.key = aws.kms.Key(
            f"{name}-db",
            description=f"chartguard {stack.stack} {region.name} database",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags(f"{name}-db"),
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-db",
            subnet_ids=[s.id for s in network.private_subnets],
            tags=tags(f"{name}-db"),
            opts=child,
        )
        common: dict[str, Any] = dict(
            instance_class=stack.db_instance_class,
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            publicly_accessible=False,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security.db.id],
            multi_az=True,
            deletion_protection=True,
            copy_tags_to_snapshot=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self.key.arn,
            final_snapshot_identifier=f"chartguard-{stack.stack}-{region.name}-final",
            tags=tags(f"{name}-db"),
            opts=child,
        )
        if source is None:
            self.instance = aws.rds.Instance(
                f"{name}-db",
                engine="postgres",
                engine_version="16",
                db_name=stack.db_name,
                username=stack.db_username,
                password=password,
                allocated_storage=stack.db_allocated_storage,
                storage_type="gp3",
                backup_retention_period=7,  # required for read replicas and PITR
                **common,
            )
        else:
            self.instance = aws.rds.Instance(
                f"{name}-db",
                replicate_source_db=source.instance.arn,
                backup_retention_period=7,
                **common,
            )
        self.register_outputs({"endpoint": self.instance.endpoint})
