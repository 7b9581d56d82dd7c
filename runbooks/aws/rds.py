"""RDS: promote the cross-region read replica to a standalone writable primary."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from runbooks.errors import CloudError, PrecheckFailed


def promote_replica(client: Any, replica_id: str, *, wait_seconds: int = 1800) -> dict[str, Any]:
    """Promote ``replica_id`` and wait until it is available; returns the instance.

    Refuses an instance that is not a read replica: promoting a primary is a mistake
    that would otherwise pass silently.
    """
    try:
        instance = client.describe_db_instances(DBInstanceIdentifier=replica_id)["DBInstances"][0]
    except (BotoCoreError, ClientError) as e:
        raise CloudError(f"describing {replica_id}: {e}") from e
    if not instance.get("ReadReplicaSourceDBInstanceIdentifier"):
        raise PrecheckFailed(f"{replica_id} is not a read replica; refusing to promote it")
    try:
        client.promote_read_replica(DBInstanceIdentifier=replica_id)
        delay = 5 if wait_seconds >= 5 else 1
        client.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=replica_id,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, wait_seconds // delay)},
        )
        promoted: dict[str, Any] = client.describe_db_instances(DBInstanceIdentifier=replica_id)[
            "DBInstances"
        ][0]
    except (BotoCoreError, ClientError, WaiterError) as e:
        raise CloudError(f"promoting {replica_id}: {e}") from e
    return promoted
