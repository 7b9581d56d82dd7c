"""Route 53 record changes for a cutover: weighted traffic shifting and failover roles.

Each function reads the current record sets first and changes only the records that
belong to the named ``(zone, name, type)``, in one atomic change batch, so a half-applied
shift cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from runbooks.errors import CloudError, PrecheckFailed


@dataclass(frozen=True, kw_only=True)
class RecordRef:
    """The DNS name whose record sets a cutover changes."""

    zone_id: str
    name: str  # fully qualified, with or without the trailing dot
    type: str = "A"

    @property
    def fqdn(self) -> str:
        return self.name if self.name.endswith(".") else self.name + "."


def _record_sets(client: Any, ref: RecordRef) -> list[dict[str, Any]]:
    try:
        pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=ref.zone_id)
        found = [
            rrset
            for page in pages
            for rrset in page["ResourceRecordSets"]
            if rrset["Name"] == ref.fqdn and rrset["Type"] == ref.type
        ]
    except (BotoCoreError, ClientError) as e:
        raise CloudError(f"listing records of {ref.fqdn} in zone {ref.zone_id}: {e}") from e
    if not found:
        raise PrecheckFailed(f"no {ref.type} records named {ref.fqdn} in zone {ref.zone_id}")
    return found


def _upsert(client: Any, ref: RecordRef, rrsets: list[dict[str, Any]], comment: str) -> None:
    try:
        client.change_resource_record_sets(
            HostedZoneId=ref.zone_id,
            ChangeBatch={
                "Comment": comment,
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in rrsets],
            },
        )
    except (BotoCoreError, ClientError) as e:
        raise CloudError(f"changing records of {ref.fqdn}: {e}") from e


def set_weights(client: Any, ref: RecordRef, weights: dict[str, int]) -> dict[str, int]:
    """Set the weight of each weighted record (by SetIdentifier); returns the old weights.

    Every identifier must exist and every weight must be 0..255 with at least one above 0
    (all zero would make Route 53 answer with all records, which hides a mistake).
    """
    if any(not 0 <= w <= 255 for w in weights.values()):
        raise PrecheckFailed(f"weights must be 0..255, got {weights}")
    if weights and not any(weights.values()):
        raise PrecheckFailed("at least one weight must be above 0")
    current = {r["SetIdentifier"]: r for r in _record_sets(client, ref) if "Weight" in r}
    missing = sorted(set(weights) - set(current))
    if missing:
        raise PrecheckFailed(f"no weighted record with SetIdentifier {missing} for {ref.fqdn}")
    old = {sid: int(r["Weight"]) for sid, r in current.items()}
    changed = [{**current[sid], "Weight": w} for sid, w in weights.items()]
    _upsert(client, ref, changed, f"chartguard weights {weights}")
    return old


def failover_roles(client: Any, ref: RecordRef) -> dict[str, str]:
    """SetIdentifier -> ``PRIMARY``/``SECONDARY`` for the failover records of ``ref``."""
    return {r["SetIdentifier"]: r["Failover"] for r in _record_sets(client, ref) if "Failover" in r}


def set_failover_primary(client: Any, ref: RecordRef, new_primary: str) -> str:
    """Make ``new_primary`` the PRIMARY failover record and the old primary SECONDARY.

    Returns the SetIdentifier of the previous primary (for rollback). A no-op when
    ``new_primary`` already is the primary.
    """
    records = {r["SetIdentifier"]: r for r in _record_sets(client, ref) if "Failover" in r}
    if new_primary not in records:
        raise PrecheckFailed(
            f"no failover record with SetIdentifier {new_primary!r} for {ref.fqdn}"
        )
    old_primary = next((sid for sid, r in records.items() if r["Failover"] == "PRIMARY"), None)
    if old_primary is None:
        raise PrecheckFailed(f"{ref.fqdn} has no PRIMARY failover record")
    if old_primary == new_primary:
        return old_primary
    _upsert(
        client,
        ref,
        [
            {**records[new_primary], "Failover": "PRIMARY"},
            {**records[old_primary], "Failover": "SECONDARY"},
        ],
        f"chartguard failover to {new_primary}",
    )
    return old_primary


def health_check_healthy(client: Any, health_check_id: str) -> bool:
    """True when most Route 53 checkers report the health check as healthy."""
    try:
        observations = client.get_health_check_status(HealthCheckId=health_check_id)[
            "HealthCheckObservations"
        ]
    except (BotoCoreError, ClientError) as e:
        raise CloudError(f"health check {health_check_id}: {e}") from e
    if not observations:
        return False
    healthy = sum(
        1 for o in observations if o["StatusReport"]["Status"].lower().startswith("success")
    )
    return healthy * 2 > len(observations)
