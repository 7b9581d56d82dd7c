"""S3 buckets for exports and downtime snapshots: versioned, KMS-encrypted, private, replicated.

One bucket per region; the primary region's bucket replicates every object to each
standby region's bucket, so a practice's export or downtime copy survives the loss of
a region.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws import policy
from infra.aws.args import AwsRegionArgs, AwsStackArgs

ASSUME_S3 = policy.assume_role("s3.amazonaws.com")


class RegionBucket(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        region: AwsRegionArgs,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:RegionBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-s3",
            description=f"chartguard {stack.stack} {region.name} exports",
            enable_key_rotation=True,
            tags=stack.tags_for(f"{name}-s3"),
            opts=child,
        )
        self.bucket = aws.s3.Bucket(name, tags=stack.tags_for(name), opts=child)
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            name,
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(  # noqa: E501
                        sse_algorithm="aws:kms",
                        kms_master_key_id=self.key.arn,
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.id})


class BucketReplication(pulumi.ComponentResource):
    """Replicate the primary bucket to every standby bucket (KMS-encrypted objects too)."""

    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        source: RegionBucket,
        destinations: list[RegionBucket],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:BucketReplication", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            name, assume_role_policy=ASSUME_S3, tags=stack.tags_for(name), opts=child
        )
        arns = [source.bucket.arn, source.key.arn] + [
            x for d in destinations for x in (d.bucket.arn, d.key.arn)
        ]
        aws.iam.RolePolicy(
            name,
            role=role.id,
            opts=child,
            policy=pulumi.Output.all(*arns).apply(
                lambda a: policy.document(
                    {
                        "Effect": "Allow",
                        "Resource": [a[0]],
                        "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    },
                    {
                        "Effect": "Allow",
                        "Resource": [f"{a[0]}/*"],
                        "Action": [
                            "s3:GetObjectVersionForReplication",
                            "s3:GetObjectVersionAcl",
                            "s3:GetObjectVersionTagging",
                        ],
                    },
                    {
                        "Effect": "Allow",
                        "Resource": [f"{b}/*" for b in a[2::2]],
                        "Action": [
                            "s3:ReplicateObject",
                            "s3:ReplicateDelete",
                            "s3:ReplicateTags",
                        ],
                    },
                    {"Effect": "Allow", "Resource": [a[1]], "Action": ["kms:Decrypt"]},
                    {
                        "Effect": "Allow",
                        "Resource": list(a[3::2]),
                        "Action": ["kms:Encrypt"],
                    },
                )
            ),
        )
        aws.s3.BucketReplicationConfig(
            name,
            bucket=source.bucket.id,
            role=role.arn,
            rules=[
                aws.s3.BucketReplicationConfigRuleArgs(
                    id=f"to-{i}",
                    status="Enabled",
                    priority=i,
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(  # noqa: E501
                        status="Enabled"
                    ),
                    source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(  # noqa: E501
                        sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(  # noqa: E501
                            status="Enabled"
                        )
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=d.bucket.arn,
                        encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(  # noqa: E501
                            replica_kms_key_id=d.key.arn
                        ),
                    ),
                )
                for i, d in enumerate(destinations)
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[source.versioning]),
        )
        self.register_outputs({})
