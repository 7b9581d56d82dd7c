"""AWS variants of the cutover steps: Route 53 traffic and failover records, RDS promotion."""

from runbooks.aws.cutover import AwsCutover, AwsCutoverResult
from runbooks.aws.rds import promote_replica
from runbooks.aws.route53 import (
    RecordRef,
    failover_roles,
    health_check_healthy,
    set_failover_primary,
    set_weights,
)

__all__ = [
    "AwsCutover",
    "AwsCutoverResult",
    "RecordRef",
    "failover_roles",
    "health_check_healthy",
    "promote_replica",
    "set_failover_primary",
    "set_weights",
]
