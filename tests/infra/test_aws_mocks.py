"""The aws target's resource graph, checked with Pulumi's own unit-test mocks (no cloud)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from infra.aws import AwsRegionArgs, AwsStackArgs

pytestmark = pytest.mark.unit

TAGGABLE_EXCEPTIONS = {
    # Resources whose AWS API has no tags argument.
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:route53/record:Record",
    "aws:acm/certificateValidation:CertificateValidation",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
}


class GraphMocks(pulumi.runtime.Mocks):
    """Records every resource; answers with its inputs plus the outputs AWS would compute."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        out = dict(args.inputs)
        out.setdefault("arn", f"arn:aws:mock:::{args.name}")
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            out.update(dnsName=f"{args.name}.elb.example", zoneId="ZALB", arnSuffix=args.name)
        elif args.typ == "aws:ecr/repository:Repository":
            out["repositoryUrl"] = f"123456789012.dkr.ecr.example/{args.name}"
        elif args.typ == "aws:rds/instance:Instance":
            out.update(endpoint=f"{args.name}.rds.example:5432", identifier=args.name)
        elif args.typ == "aws:acm/certificate:Certificate":
            out["domainValidationOptions"] = [
                {
                    "domainName": args.inputs.get("domainName"),
                    "resourceRecordName": "_x.example.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_y.acm.example.",
                }
            ]
        elif args.typ == "aws:route53/record:Record":
            out["fqdn"] = args.inputs.get("name")
        elif args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            out["prefixListId"] = "pl-mock"
        return f"{args.name}-id", out

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def region_of(self, res: pulumi.runtime.MockResourceArgs) -> str:
        """The AWS region of the provider a resource was created with."""
        provider_id = (res.provider or "").rsplit("::", 1)[-1]
        for p in self.of_type("pulumi:providers:aws"):
            if f"{p.name}-id" == provider_id:
                return str(p.inputs["region"])
        raise AssertionError(f"{res.name} has no aws provider")


STACK = AwsStackArgs(
    stack="aws-example",
    regions=[
        AwsRegionArgs(name="east", aws_region="us-east-1", role="primary", cidr="10.10.0.0/16"),
        AwsRegionArgs(name="west", aws_region="us-west-2", role="standby", cidr="10.20.0.0/16"),
    ],
    zone_id="ZONE123",
    app_hostname="app.ehr.example",
    tags={"owner": "sre", "service": "ehr"},
)


@contextlib.contextmanager
def mocked_pulumi(mocks: GraphMocks, stack: str = "aws-example") -> Iterator[GraphMocks]:
    """Pulumi's mocks installed on a fresh event loop, and everything reset afterwards.

    Other tests (Playwright's sync API, TestClient) may leave no usable event loop behind;
    Pulumi's mocks run on the current one.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(mocks, project="chartguard", stack=stack, preview=False)
    try:
        yield mocks
    finally:
        pulumi.runtime.set_all_config({}, [])
        pulumi.runtime.settings.reset_options()
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture(scope="module")
def graph() -> GraphMocks:
    with mocked_pulumi(GraphMocks()) as mocks:
        from infra.aws import deploy

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any]:
            outputs = deploy(STACK, db_password=pulumi.Output.secret("correct-horse-battery"))
            return pulumi.Output.from_input(outputs["db_endpoints"])

        program()
    return mocks


def test_one_provider_per_region(graph: GraphMocks) -> None:
    regions = sorted(p.inputs["region"] for p in graph.of_type("pulumi:providers:aws"))
    assert regions == ["us-east-1", "us-west-2"]


def test_replica_in_other_region_and_encrypted(graph: GraphMocks) -> None:
    dbs = {r.name: r for r in graph.of_type("aws:rds/instance:Instance")}
    primary, replica = dbs["east-db"], dbs["west-db"]
    assert graph.region_of(primary) == "us-east-1" and graph.region_of(replica) == "us-west-2"
    assert replica.inputs["replicateSourceDb"] == "arn:aws:mock:::east-db"
    assert "replicateSourceDb" not in primary.inputs
    for db in (primary, replica):
        assert db.inputs["storageEncrypted"] is True
        assert db.inputs["kmsKeyId"].startswith("arn:aws:mock")
        assert db.inputs["publiclyAccessible"] is False
        assert db.inputs["multiAz"] is True
    assert primary.inputs["backupRetentionPeriod"] >= 1


def test_database_reachable_only_from_app_tasks(graph: GraphMocks) -> None:
    rules = graph.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
    into_db = [r for r in rules if r.inputs["type"] == "ingress" and r.inputs["fromPort"] == 5432]
    assert {r.inputs["securityGroupId"] for r in into_db} == {"east-db-id", "west-db-id"}
    assert {r.inputs["sourceSecurityGroupId"] for r in into_db} == {"east-app-id", "west-app-id"}
    assert all("cidrBlocks" not in r.inputs for r in rules)


def test_nothing_open_to_the_world_but_alb_443(graph: GraphMocks) -> None:
    open_ports = []
    for sg in graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in sg.inputs.get("ingress", []) + sg.inputs.get("egress", []):
            if "0.0.0.0/0" in rule.get("cidrBlocks", []):
                open_ports.append((sg.name, rule["fromPort"], rule["toPort"]))
    assert sorted(open_ports) == [("east-alb", 443, 443), ("west-alb", 443, 443)]
    routes = [
        route
        for rt in graph.of_type("aws:ec2/routeTable:RouteTable")
        if rt.name.endswith("-private")
        for route in rt.inputs.get("routes", [])
    ]
    assert routes == []  # private subnets have no internet route at all


def test_health_checks_wired_to_failover_records(graph: GraphMocks) -> None:
    checks = {c.name: c for c in graph.of_type("aws:route53/healthCheck:HealthCheck")}
    assert {c.inputs["resourcePath"] for c in checks.values()} == {"/readyz"}
    failover = [
        r
        for r in graph.of_type("aws:route53/record:Record")
        if r.inputs.get("failoverRoutingPolicies")
    ]
    roles = {
        r.inputs["setIdentifier"]: r.inputs["failoverRoutingPolicies"][0]["type"] for r in failover
    }
    assert roles == {"east": "PRIMARY", "west": "SECONDARY"}
    for record in failover:
        assert record.inputs["healthCheckId"] == f"ehr-{record.inputs['setIdentifier']}-id"
        assert record.inputs["aliases"][0]["evaluateTargetHealth"] is True


def test_alb_health_checks_readyz(graph: GraphMocks) -> None:
    groups = graph.of_type("aws:lb/targetGroup:TargetGroup")
    assert groups and all(g.inputs["healthCheck"]["path"] == "/readyz" for g in groups)
    listeners = graph.of_type("aws:lb/listener:Listener")
    assert {(lst.inputs["port"], lst.inputs["protocol"]) for lst in listeners} == {(443, "HTTPS")}


def test_buckets_block_public_access_versioned_encrypted_replicated(graph: GraphMocks) -> None:
    blocks = graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == 2
    for block in blocks:
        assert all(
            block.inputs[k] is True
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        )
    versioning = graph.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert [v.inputs["versioningConfiguration"]["status"] for v in versioning] == ["Enabled"] * 2
    sse = graph.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    algos = [
        s.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] for s in sse
    ]
    assert algos == ["aws:kms"] * 2
    (replication,) = graph.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert replication.inputs["bucket"] == "east-exports-id"
    assert replication.inputs["rules"][0]["destination"]["bucket"] == "arn:aws:mock:::west-exports"


def test_alarms_on_5xx_and_replica_lag(graph: GraphMocks) -> None:
    alarms = graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    metrics = sorted((graph.region_of(a), a.inputs["metricName"]) for a in alarms)
    assert ("us-west-2", "ReplicaLag") in metrics
    assert ("us-east-1", "ReplicaLag") not in metrics
    for region in ("us-east-1", "us-west-2"):
        assert (region, "HTTPCode_Target_5XX_Count") in metrics


def test_alarms_notify_their_region_topic_and_a_silent_replica_alarms(graph: GraphMocks) -> None:
    alarms = {a.name: a.inputs for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert sorted(alarms) == [
        "east-HTTPCode_ELB_5XX_Count",
        "east-HTTPCode_Target_5XX_Count",
        "west-HTTPCode_ELB_5XX_Count",
        "west-HTTPCode_Target_5XX_Count",
        "west-replica-lag",
    ]
    for name, alarm in alarms.items():
        topic = f"arn:aws:mock:::{name.split('-')[0]}-alarms"
        assert alarm["alarmActions"] == alarm["okActions"] == [topic]
        window = (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"])
        assert window == (60, 3, 2)
        assert alarm["tags"]["Name"] == name
    lag = alarms["west-replica-lag"]
    assert lag["threshold"] == STACK.replica_lag_alarm_seconds
    assert (lag["statistic"], lag["treatMissingData"]) == ("Maximum", "breaching")
    assert lag["dimensions"] == {"DBInstanceIdentifier": "west-db"}
    edge = alarms["east-HTTPCode_ELB_5XX_Count"]
    assert edge["threshold"] == STACK.error_rate_alarm_count
    assert (edge["statistic"], edge["treatMissingData"]) == ("Sum", "notBreaching")


def test_roles_trust_one_service_and_tasks_read_only_their_secret(graph: GraphMocks) -> None:
    trusted = {}
    for role in graph.of_type("aws:iam/role:Role"):
        doc = json.loads(role.inputs["assumeRolePolicy"])
        assert doc["Version"] == "2012-10-17"
        (statement,) = doc["Statement"]
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
        trusted[role.name] = statement["Principal"]["Service"]
    assert trusted == {
        "east-exec": "ecs-tasks.amazonaws.com",
        "east-task": "ecs-tasks.amazonaws.com",
        "west-exec": "ecs-tasks.amazonaws.com",
        "west-task": "ecs-tasks.amazonaws.com",
        "exports-replication": "s3.amazonaws.com",
    }
    grants = {
        p.name: json.loads(p.inputs["policy"])
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.endswith("-exec-secret")
    }
    assert sorted(grants) == ["east-exec-secret", "west-exec-secret"]
    for doc in grants.values():
        assert doc["Statement"] == [
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "arn:aws:mock:::db-password",  # the mocks' ARN has no region
            }
        ]


def test_every_taggable_resource_carries_the_stack_tags(graph: GraphMocks) -> None:
    untagged = []
    for res in graph.resources:
        if res.typ.startswith(("pulumi:", "chartguard:")) or res.typ in TAGGABLE_EXCEPTIONS:
            continue
        tags = res.inputs.get("tags") or {}
        if tags.get("chartguard:stack") != "aws-example" or tags.get("owner") != "sre":
            untagged.append(f"{res.typ} {res.name}")
    assert untagged == []


def test_password_never_in_plain_task_definition(graph: GraphMocks) -> None:
    for task in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert "correct-horse-battery" not in str(task.inputs["containerDefinitions"])
        assert "PGPASSWORD" in str(task.inputs["containerDefinitions"])


def test_bad_topology_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="exactly one primary"):
        AwsStackArgs(
            stack="x",
            zone_id="Z",
            app_hostname="a.example",
            regions=[AwsRegionArgs(name="east", aws_region="us-east-1", role="standby")],
        )
