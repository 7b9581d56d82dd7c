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
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            kms_master_key_id="alias/aws/sns",
            tags=stack.tags_for(f"{name}-alarms"),
            opts=child,
        )
        for metric in ("HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"):
            aws.cloudwatch.MetricAlarm(
                f"{name}-{metric}",
                namespace="AWS/ApplicationELB",
                metric_name=metric,
                dimensions={"LoadBalancer": app.alb.arn_suffix},
                statistic="Sum",
                period=60,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator="GreaterThanThreshold",
                threshold=stack.error_rate_alarm_count,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                tags=stack.tags_for(f"{name}-{metric}"),
                opts=child,
            )
        if region.role != "primary":
            aws.cloudwatch.MetricAlarm(
                f"{name}-replica-lag",
                namespace="AWS/RDS",
                metric_name="ReplicaLag",
                dimensions={"DBInstanceIdentifier": database.instance.identifier},
                statistic="Maximum",
                period=60,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator="GreaterThanThreshold",
                threshold=stack.replica_lag_alarm_seconds,
                treat_missing_data="breaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                tags=stack.tags_for(f"{name}-replica-lag"),
                opts=child,
            )
        self.register_outputs({"topic": self.topic.arn})
