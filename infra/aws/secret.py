"""The database password as a Secrets Manager secret replicated to every region."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.args import AwsStackArgs


class DatabaseSecret(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        password: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:DatabaseSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        primary = stack.primary.aws_region
        self.secret = aws.secretsmanager.Secret(
            name,
            description=f"chartguard {stack.stack} database password",
            replicas=[
                aws.secretsmanager.SecretReplicaArgs(region=r.aws_region)
                for r in stack.regions
                if r.aws_region != primary
            ],
            recovery_window_in_days=7,
            tags=stack.tags_for(name),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            name, secret_id=self.secret.id, secret_string=password, opts=child
        )
        self.register_outputs({"arn": self.secret.arn})

    def arn_in(self, aws_region: str, primary: str) -> pulumi.Output[str]:
        """The ARN of the secret's copy in ``aws_region`` (replicas keep the name)."""
        return self.secret.arn.apply(lambda arn: arn.replace(f":{primary}:", f":{aws_region}:"))
