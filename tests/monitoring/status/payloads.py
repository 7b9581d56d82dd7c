"""Payloads and credentials shared by the status-service tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# docs/interfaces.md: the seeded users' password (synthetic data only).
SEED_PASSWORD = "chartguard-seed-password"
TOKEN = "test-sre-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def alert(status: str = "firing", *, region: str = "east", component: str = "database",
          severity: str = "page", name: str = "EhrDatabaseDown",
          fingerprint: str = "fp-east-db") -> dict[str, Any]:
    """One Alertmanager v4 alert as Alertmanager would post it."""
    return {
        "status": status,
        "labels": {"alertname": name, "region": region, "component": component,
                   "severity": severity},
        "annotations": {"summary": f"{region} database is down"},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint,
    }


def webhook_body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "status-service", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }
