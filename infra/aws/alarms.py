"""CloudWatch alarms per region: edge 5xx rate (ALB and targets) and replica lag."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.app import RegionApp
from infra.aws.args import AwsRegionArgs, AwsStackArgs
from infra.aws.database import RegionDatabase


class RegionAlarms(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        region: AwsRegionArgs,
        app: RegionApp,
        database: RegionDatabase,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:RegionAlarms", name, None, opts)
        self._stack = stack
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            kms_master_key_id="alias/aws/sns",
            tags=stack.tags_for(f"{name}-alarms"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for metric in ("HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"):
            self._alarm(
                f"{name}-{metric}",
                namespace="AWS/ApplicationELB",
                metric_name=metric,
                dimensions={"LoadBalancer": app.alb.arn_suffix},
                statistic="Sum",
                threshold=stack.error_rate_alarm_count,
                treat_missing_data="notBreaching",
            )
        if region.role != "primary":
            # No data from a replica means it is gone: that is an alarm, not a quiet night.
            self._alarm(
                f"{name}-replica-lag",
                namespace="AWS/RDS",
                metric_name="ReplicaLag",
                dimensions={"DBInstanceIdentifier": database.instance.identifier},
                statistic="Maximum",
                threshold=stack.replica_lag_alarm_seconds,
                treat_missing_data="breaching",
            )
        self.register_outputs({"topic": self.topic.arn})

    def _alarm(
        self,
        resource_name: str,
        *,
        namespace: str,
        metric_name: str,
        dimensions: dict[str, pulumi.Input[str]],
        statistic: str,
        threshold: int,
        treat_missing_data: str,
    ) -> aws.cloudwatch.MetricAlarm:
        """A one-minute alarm firing when 2 of the last 3 minutes exceed ``threshold``; it
        notifies the region's topic on alarm and on recovery."""
        return aws.cloudwatch.MetricAlarm(
            resource_name,
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            statistic=statistic,
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
            treat_missing_data=treat_missing_data,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            tags=self._stack.tags_for(resource_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
