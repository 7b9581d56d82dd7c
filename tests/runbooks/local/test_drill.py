"""The backup-restore drill against the private stack's real primary."""

from __future__ import annotations

import pytest

from runbooks.local.drill import backup_restore
from tests.runbooks.writes import PASSWORD, ledger_of_real_writes

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

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
