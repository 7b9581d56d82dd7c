"""The backup-restore drill against the private stack's real primary."""

from __future__ import annotations

import time

import httpx
import pytest

from loadtests import LedgerEntry, WriteStatus
from loadtests.ledger import content_hash, field_hashes
from runbooks.local.drill import backup_restore

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PASSWORD = "chartguard-seed-password"


def ledger_of_real_writes(router_url: str, path, n: int = 5) -> None:
    with httpx.Client(base_url=router_url, timeout=10) as client:
        token = client.post("/api/v1/auth/login", json={
            "email": "owner@practice-0000.test", "password": PASSWORD}).json()["token"]
        lines = []
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
            lines.append(entry.to_json())
    path.write_text("\n".join(lines) + "\n")


def test_backup_restores_into_a_scratch_cluster_with_every_acknowledged_write(
        private_stack, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    ledger_of_real_writes(private_stack.router_url, ledger)
    work = private_stack.root / "drills"
    cluster = private_stack.cluster
    result = backup_restore(cluster.db(cluster.primary), work_dir=work,
                            router_url=private_stack.router_url, probe_password=PASSWORD,
                            markers=10, ledger=ledger)
    assert result.ok, result
    assert result.markers >= 10 and result.markers_found == result.markers
    assert result.ledger_sampled == 5 and result.ledger_lost == 0
    assert result.backup_bytes > 1_000_000 and result.restore_s > 0
    assert list(work.iterdir()) == []  # scratch cluster, EHR and files are gone
