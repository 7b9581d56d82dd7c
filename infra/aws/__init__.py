"""The ``aws`` target: the same topology in real AWS regions (ECS Fargate, RDS, Route 53)."""

from infra.aws.args import AwsRegionArgs, AwsStackArgs
from infra.aws.stack import deploy

__all__ = ["AwsRegionArgs", "AwsStackArgs", "deploy"]
