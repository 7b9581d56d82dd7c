"""AWS cutover steps against moto's server on 127.0.0.1 (the only AWS stand-in allowed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from runbooks.aws import (
    AwsCutover,
    RecordRef,
    failover_roles,
    promote_replica,
    set_failover_primary,
    set_weights,
)
from runbooks.errors import GateFailed, PrecheckFailed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    import requests

    requests.post(f"{moto_url}/moto-api/reset", timeout=10)

    def client(name: str, region: str = "us-east-1") -> Any:
        return boto3.client(name, region_name=region, endpoint_url=moto_url)

    r53 = client("route53")
    zone = r53.create_hosted_zone(Name="ehr.example.", CallerReference="t")["HostedZone"]["Id"]
    changes = []
    for sid, weight, ip in (("east", 100, "192.0.2.1"), ("west", 0, "192.0.2.2")):
        changes.append(
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": "app.ehr.example.", "Type": "A", "SetIdentifier": sid,
                    "Weight": weight, "TTL": 30, "ResourceRecords": [{"Value": ip}],
                },
            }
        )
    for sid, role, ip in (("east", "PRIMARY", "192.0.2.1"), ("west", "SECONDARY", "192.0.2.2")):
        changes.append(
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": "api.ehr.example.", "Type": "A", "SetIdentifier": sid,
                    "Failover": role, "TTL": 30, "ResourceRecords": [{"Value": ip}],
                },
            }
        )
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    rds_east, rds_west = client("rds", "us-east-1"), client("rds", "us-west-2")
    source = rds_east.create_db_instance(
        DBInstanceIdentifier="ehr-east", Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="ehr", MasterUserPassword="not-a-secret-1",
    )["DBInstance"]["DBInstanceArn"]
    rds_west.create_db_instance_read_replica(
        DBInstanceIdentifier="ehr-west", SourceDBInstanceIdentifier=source,
        DBInstanceClass="db.t3.micro",
    )
    return {
        "route53": r53, "rds_east": rds_east, "rds_west": rds_west,
        "weighted": RecordRef(zone_id=zone, name="app.ehr.example"),
        "failover": RecordRef(zone_id=zone, name="api.ehr.example"),
    }


def _weights(r53: Any, ref: RecordRef) -> dict[str, int]:
    sets = r53.list_resource_record_sets(HostedZoneId=ref.zone_id)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Weight"] for r in sets if r["Name"] == ref.fqdn}


def test_set_weights_returns_old_and_rejects_bad_input(aws: dict[str, Any]) -> None:
    r53, ref = aws["route53"], aws["weighted"]
    assert set_weights(r53, ref, {"east": 90, "west": 10}) == {"east": 100, "west": 0}
    assert _weights(r53, ref) == {"east": 90, "west": 10}
    with pytest.raises(PrecheckFailed, match="SetIdentifier"):
        set_weights(r53, ref, {"north": 5})
    with pytest.raises(PrecheckFailed, match="0..255"):
        set_weights(r53, ref, {"east": 300})
    assert _weights(r53, ref) == {"east": 90, "west": 10}  # bad input changed nothing


def test_failover_flip_and_back(aws: dict[str, Any]) -> None:
    r53, ref = aws["route53"], aws["failover"]
    assert set_failover_primary(r53, ref, "west") == "east"
    assert failover_roles(r53, ref) == {"east": "SECONDARY", "west": "PRIMARY"}
    assert set_failover_primary(r53, ref, "west") == "west"  # idempotent
    set_failover_primary(r53, ref, "east")
    assert failover_roles(r53, ref) == {"east": "PRIMARY", "west": "SECONDARY"}


def test_promote_refuses_a_primary(aws: dict[str, Any]) -> None:
    with pytest.raises(PrecheckFailed, match="not a read replica"):
        promote_replica(aws["rds_east"], "ehr-east", wait_seconds=2)


def test_full_cutover_moves_traffic_and_promotes(aws: dict[str, Any]) -> None:
    gates: list[str] = []
    result = AwsCutover(
        route53=aws["route53"], rds=aws["rds_west"], weighted=aws["weighted"],
        source="east", target="west", failover=aws["failover"],
        replica_id="ehr-west", gate=gates.append, wait_seconds=2,
    ).run()
    assert result.status == "passed", result.error
    assert gates == ["shift 10%", "shift 50%", "shift 100%", "cutover"]
    assert _weights(aws["route53"], aws["weighted"]) == {"east": 0, "west": 100}
    assert failover_roles(aws["route53"], aws["failover"])["west"] == "PRIMARY"
    west = aws["rds_west"].describe_db_instances(DBInstanceIdentifier="ehr-west")["DBInstances"][0]
    assert west["DBInstanceStatus"] == "available"
    assert [s.name for s in result.steps if s.name == "promote replica"] == ["promote replica"]
    assert result.write_unavailable_seconds is not None


def test_failed_gate_rolls_traffic_back(aws: dict[str, Any]) -> None:
    def gate(step: str) -> None:
        if step == "shift 50%":
            raise GateFailed("availability", "error ratio 2.1% > 0.1%")

    result = AwsCutover(
        route53=aws["route53"], rds=aws["rds_west"], weighted=aws["weighted"],
        source="east", target="west", failover=aws["failover"],
        replica_id="ehr-west", gate=gate, wait_seconds=2,
    ).run()
    assert result.status == "rolled_back"
    assert result.failed_gate == "availability"
    assert _weights(aws["route53"], aws["weighted"]) == {"east": 100, "west": 0}
    assert "promote replica" not in [s.name for s in result.steps]  # never promoted
