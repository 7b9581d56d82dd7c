"""Real acknowledged writes through the router, recorded as a load-test ledger."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from loadtests import LedgerEntry, LedgerWriter, WriteStatus
from loadtests.ledger import content_hash, field_hashes

PASSWORD = "chartguard-seed-password"


def ledger_of_real_writes(router_url: str, path: Path, n: int = 5) -> None:
    """Create ``n`` synthetic patients as practice-0000's owner; write their ledger."""
    with httpx.Client(base_url=router_url, timeout=10) as client:
        token = client.post("/api/v1/auth/login", json={
            "email": "owner@practice-0000.test", "password": PASSWORD}).json()["token"]
        entries = []
        for i in range(n):
            body = {"given_name": "Drill", "family_name": f"Ledger{i}",
                    "birth_date": "1980-02-03"}
            r = client.post("/api/v1/patients", json=body,
                            headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
            pid = str(r.json()["id"])
            entry = LedgerEntry(status=WriteStatus.ack, op="create", kind="patient",
                                practice="practice-0000", fields=field_hashes(body),
                                hash=content_hash(body), at=time.time(), id=pid,
                                read=f"/api/v1/patients/{pid}",
                                region=r.headers.get("X-Chartguard-Region"))
            entries.append(entry)
    with LedgerWriter(path) as ledger:
        for entry in entries:
            ledger.append(entry)
