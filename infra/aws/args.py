"""Inputs of the ``aws`` target, rendered from the topology model by ``infra/__main__.py``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class AwsRegionArgs:
    """One chartguard region placed in one AWS region."""

    name: str  # chartguard's region name: east, west, ...
    aws_region: str  # us-east-1, ...
    role: str  # primary | standby
    cidr: str = "10.0.0.0/16"

    @property
    def azs(self) -> list[str]:
        """Two availability zones, named the way AWS does (region + letter)."""
        return [f"{self.aws_region}a", f"{self.aws_region}b"]


@dataclass(frozen=True, kw_only=True)
class AwsStackArgs:
    """The whole aws target: every region plus what they share (DNS, image, sizes, tags)."""

    stack: str
    regions: list[AwsRegionArgs]
    zone_id: str  # the existing public Route 53 hosted zone that holds app_hostname
    app_hostname: str  # the name practices use, e.g. app.ehr.example.org
    image_tag: str = "latest"
    app_port: int = 8000
    workers: int = 4
    desired_count: int = 2
    cpu: int = 1024
    memory: int = 2048
    db_instance_class: str = "db.t4g.medium"
    db_allocated_storage: int = 50
    db_name: str = "chartguard"
    db_username: str = "chartguard"
    replica_lag_alarm_seconds: int = 30
    error_rate_alarm_count: int = 10
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        roles = [r.role for r in self.regions]
        if roles.count("primary") != 1:
            raise ValueError(f"regions: exactly one primary region is required, got roles {roles}")
        if len({r.aws_region for r in self.regions}) != len(self.regions):
            raise ValueError("regions: each chartguard region needs its own AWS region")

    @property
    def primary(self) -> AwsRegionArgs:
        return next(r for r in self.regions if r.role == "primary")

    def tags_for(self, name: str) -> dict[str, str]:
        """The stack's tags plus a Name, for every taggable resource."""
        return {"chartguard:stack": self.stack, **self.tags, "Name": name}
