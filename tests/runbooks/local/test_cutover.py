"""Migrations and failovers on real PostgreSQL, EHRs, HAProxy and Toxiproxy."""

from __future__ import annotations

import httpx
import pytest

from runbooks.local.cutover import NO_GATE, Cutover, CutoverOptions
from runbooks.local.fence import is_fenced
from runbooks.local.outcome import CutoverStatus, StepStatus
from runbooks.local.probe import WriteProbe
from runbooks.local.replication import replication_state
from tests.runbooks.local.stack import PrivateStack

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

OWNER = {"email": "owner@practice-0000.test", "password": "chartguard-seed-password"}


def probe(stack: PrivateStack) -> WriteProbe:
    return WriteProbe(stack.router_url, interval=0.05, max_seconds=120, **OWNER)


def assert_healthy(stack: PrivateStack, primary: str, standby: str) -> None:
    cluster = stack.cluster
    assert cluster.primary == primary
    assert replication_state(cluster.db(primary), standby).streaming
    assert not is_fenced(cluster.db(primary))
    servers = stack.router_control().servers()
    assert servers[primary].up and not servers[primary].backup
    assert servers[standby].backup
    ready = httpx.get(f"{stack.router_url}/readyz", timeout=5).json()
    assert (ready["region"], ready["role"], ready["read_only"]) == (primary, "primary", False)


def test_dry_run_plans_and_changes_nothing(private_stack):
    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]
    result = Cutover(private_stack.cluster).dry_run("migrate", source, target)
    assert result.status is CutoverStatus.PLANNED
    assert all(s.status is StepStatus.PLANNED for s in result.steps)
    assert any(s.name == f"promote {target}" for s in result.steps)
    assert private_stack.cluster.primary == source


def test_failing_gate_rolls_back_and_old_primary_keeps_serving(private_stack):
    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]

    def gate(step: str, start: float, end: float) -> tuple[bool, str]:
        if step == "error budget":
            return True, "budget ok"
        return False, "p99 latency 900 ms > 500 ms"

    runner = Cutover(private_stack.cluster, gate=gate, probe=probe(private_stack),
                     options=CutoverOptions(read_steps=()))
    result = runner.migrate(source, target)
    assert result.status is CutoverStatus.ROLLED_BACK, result.reason
    assert result.failed_gate == "postcheck"
    assert "p99 latency" in result.reason
    assert result.rollback is not None and result.rollback.status is CutoverStatus.SUCCEEDED
    assert result.lost_writes == 0 and result.acknowledged_writes
    private_stack.cluster = runner.cluster
    assert_healthy(private_stack, source, target)


def test_failing_precheck_changes_nothing(private_stack):
    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]
    result = Cutover(private_stack.cluster, gate=lambda s, a, b: (False, "budget 2% left"),
                     ).migrate(source, target)
    assert result.status is CutoverStatus.ROLLED_BACK
    assert result.failed_gate == "error budget"
    assert not any(s.name.startswith("fence") for s in result.steps)
    assert_healthy(private_stack, source, target)


@pytest.mark.parametrize("gate", ["none configured", "prometheus down"])
def test_a_gate_that_cannot_be_evaluated_moves_nothing(private_stack, gate):
    """Fails closed: no gate configured, or a Prometheus that does not answer, stops the
    migration at its pre-check, before anything irreversible; the primary keeps serving."""
    from runbooks.local.services import PrometheusGate
    from tests.runbooks.local.stack import free_port

    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]
    slo_gate = None if gate == "none configured" else PrometheusGate(
        f"http://127.0.0.1:{free_port()}")  # nothing listens there
    result = Cutover(private_stack.cluster, gate=slo_gate).migrate(source, target)
    assert result.status is CutoverStatus.ROLLED_BACK
    assert result.failed_gate == "error budget"
    assert ("no SLO gate configured" if slo_gate is None else "fails closed") in result.reason
    assert result.gate_skipped is None
    assert not any(s.name.startswith(("fence", "promote")) for s in result.steps)
    assert_healthy(private_stack, source, target)


def test_migrate_there_and_back_loses_no_write(private_stack):
    first = private_stack.cluster.primary
    second = private_stack.cluster.standbys[0]
    for source, target in ((first, second), (second, first)):
        runner = Cutover(private_stack.cluster, gate=NO_GATE, probe=probe(private_stack))
        result = runner.migrate(source, target)
        assert result.status is CutoverStatus.SUCCEEDED, result.reason
        assert result.gate_skipped == "--no-gate"  # the record says nothing gated it
        private_stack.cluster = runner.cluster
        assert result.lost_writes == 0
        assert result.acknowledged_writes and result.acknowledged_writes > 10
        assert result.write_unavailable_s is not None and result.write_unavailable_s < 10
        drain = next(s for s in result.steps if s.name.startswith("drain writes"))
        assert f"{target} holds writes" in drain.detail, drain.detail
        assert_healthy(private_stack, target, source)


def test_failover_in_sync_mode_loses_no_acknowledged_write(private_stack):
    from runbooks.local.server import stop_postmaster

    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]
    writes = probe(private_stack).start()
    import time

    time.sleep(1.0)
    # The primary region's database dies hard (no shutdown checkpoint).
    assert stop_postmaster(private_stack.cluster.db(source), immediate=True)
    runner = Cutover(private_stack.cluster, probe=writes)
    result = runner.failover(target)
    assert result.status is CutoverStatus.SUCCEEDED, result.reason
    private_stack.cluster = runner.cluster
    assert result.lost_writes == 0 and result.acknowledged_writes
    assert result.kept_data_dir is not None  # the old primary's data, set aside
    assert_healthy(private_stack, target, source)


def test_reads_shift_in_steps_and_a_failed_step_puts_them_back(private_stack):
    source = private_stack.cluster.primary
    target = private_stack.cluster.standbys[0]
    seen: dict[str, set[str]] = {}

    def gate(step: str, start: float, end: float) -> tuple[bool, str]:
        if step.startswith("reads"):
            seen[step] = {httpx.get(f"{private_stack.router_url}/readyz", timeout=5)
                          .json()["region"] for _ in range(20)}
        return step != "reads 100%", "p99 latency 900 ms > 500 ms"

    runner = Cutover(private_stack.cluster, gate=gate,
                     options=CutoverOptions(read_step_hold_s=0.2))
    result = runner.migrate(source, target)
    assert result.status is CutoverStatus.ROLLED_BACK, result.reason
    assert result.failed_gate == "reads 100%"
    assert seen["reads 10%"] <= {source, target} and seen["reads 100%"] == {target}
    assert not any(s.name.startswith("fence") for s in result.steps)
    # Rolled back: reads are on the primary again, with the weights they had.
    reads = stack_reads(private_stack)
    assert reads.weights() == {source: 100, target: 0}
    assert {httpx.get(f"{private_stack.router_url}/readyz", timeout=5).json()["region"]
            for _ in range(10)} == {source}
    assert_healthy(private_stack, source, target)


def stack_reads(stack: PrivateStack):
    from infra.local.haproxy import READ_BACKEND
    from runbooks.local.router import RouterControl

    return RouterControl(stack.cluster.router.socket_path, backend=READ_BACKEND)
