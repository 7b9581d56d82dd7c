"""Per-region EHR app: ECR image repository, ECS Fargate service, ALB with /readyz checks."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws import policy
from infra.aws.args import AwsRegionArgs, AwsStackArgs
from infra.aws.network import RegionNetwork
from infra.aws.security import RegionSecurity

EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
ASSUME_ECS_TASKS = policy.assume_role("ecs-tasks.amazonaws.com")


def _first_validation(options: Any, key: str) -> str:
    return str(options[0][key]) if options else ""


class RegionApp(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        stack: AwsStackArgs,
        region: AwsRegionArgs,
        network: RegionNetwork,
        security: RegionSecurity,
        db_endpoint: pulumi.Input[str],
        password_secret_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("chartguard:aws:RegionApp", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack.tags_for
        self.repository = aws.ecr.Repository(
            f"{name}-ehr",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")
            ],
            tags=tags(f"{name}-ehr"),
            opts=child,
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-ehr", retention_in_days=30, tags=tags(f"{name}-ehr"), opts=child
        )
        execution = aws.iam.Role(
            f"{name}-exec",
            assume_role_policy=ASSUME_ECS_TASKS,
            tags=tags(f"{name}-exec"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-exec", role=execution.name, policy_arn=EXECUTION_POLICY, opts=child
        )
        aws.iam.RolePolicy(
            f"{name}-exec-secret",
            role=execution.id,
            opts=child,
            policy=pulumi.Output.from_input(password_secret_arn).apply(
                lambda arn: policy.document(
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}
                )
            ),
        )
        task_role = aws.iam.Role(
            f"{name}-task",
            assume_role_policy=ASSUME_ECS_TASKS,
            tags=tags(f"{name}-task"),
            opts=child,
        )
        container = pulumi.Output.all(
            self.repository.repository_url, db_endpoint, password_secret_arn, logs.name
        ).apply(
            lambda a: json.dumps(
                [
                    {
                        "name": "ehr",
                        "image": f"{a[0]}:{stack.image_tag}",
                        "essential": True,
                        "portMappings": [{"containerPort": stack.app_port, "protocol": "tcp"}],
                        "command": [
                            "chartguard",
                            "ehr",
                            "serve",
                            "--host",
                            "0.0.0.0",
                            "--port",
                            str(stack.app_port),
                            "--workers",
                            str(stack.workers),
                        ],
                        "environment": [
                            {"name": "CHARTGUARD_REGION", "value": region.name},
                            {
                                "name": "CHARTGUARD_DB_URL",
                                "value": f"postgresql://{stack.db_username}@{a[1]}/{stack.db_name}?sslmode=require",
                            },
                        ],
                        # libpq reads PGPASSWORD: the password is in neither the URL nor the task.
                        "secrets": [{"name": "PGPASSWORD", "valueFrom": a[2]}],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": a[3],
                                "awslogs-region": region.aws_region,
                                "awslogs-stream-prefix": "ehr",
                            },
                        },
                        "readonlyRootFilesystem": False,
                    }
                ]
            )
        )
        task = aws.ecs.TaskDefinition(
            f"{name}-ehr",
            family=f"chartguard-{stack.stack}-{region.name}",
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(stack.cpu),
            memory=str(stack.memory),
            execution_role_arn=execution.arn,
            task_role_arn=task_role.arn,
            container_definitions=container,
            tags=tags(f"{name}-ehr"),
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=tags(f"{name}-cluster"),
            opts=child,
        )
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            security_groups=[security.alb.id],
            subnets=[s.id for s in network.public_subnets],
            drop_invalid_header_fields=True,
            tags=tags(f"{name}-alb"),
            opts=child,
        )
        target = aws.lb.TargetGroup(
            f"{name}-ehr",
            port=stack.app_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=network.vpc.id,
            deregistration_delay=15,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path="/readyz",
                matcher="200",
                interval=5,
                timeout=2,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
            tags=tags(f"{name}-ehr"),
            opts=child,
        )
        cert = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=stack.app_hostname,
            subject_alternative_names=[f"{region.name}.{stack.app_hostname}"],
            validation_method="DNS",
            tags=tags(f"{name}-cert"),
            opts=child,
        )
        options = cert.domain_validation_options
        validation = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=stack.zone_id,
            ttl=60,
            allow_overwrite=True,
            name=options.apply(lambda o: _first_validation(o, "resource_record_name")),
            type=options.apply(lambda o: _first_validation(o, "resource_record_type") or "CNAME"),
            records=[options.apply(lambda o: _first_validation(o, "resource_record_value"))],
            opts=child,
        )
        validated = aws.acm.CertificateValidation(
            f"{name}-cert",
            certificate_arn=cert.arn,
            validation_record_fqdns=[validation.fqdn],
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            certificate_arn=validated.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target.arn)
            ],
            tags=tags(f"{name}-https"),
            opts=child,
        )
        self.service = aws.ecs.Service(
            f"{name}-ehr",
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=stack.desired_count,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=[s.id for s in network.private_subnets],
                security_groups=[security.app.id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target.arn,
                    container_name="ehr",
                    container_port=stack.app_port,
                )
            ],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            health_check_grace_period_seconds=30,
            propagate_tags="SERVICE",
            tags=tags(f"{name}-ehr"),
            opts=child,
        )
        self.register_outputs(
            {
                "alb_dns_name": self.alb.dns_name,
                "repository_url": self.repository.repository_url,
            }
        )
