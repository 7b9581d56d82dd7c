"""The rehearsal's options, playbook syntax and record composition (no stack needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runbooks.cli import main
from runbooks.errors import RunbookError
from runbooks.playbook import PLAYBOOK_DIR, PlaybookResult, TaskRecord, TaskStatus
from runbooks.rehearsal import RehearsalFiles, RehearsalOptions, compose_record, with_playbook

pytestmark = pytest.mark.unit

T0 = 1_790_000_000.0


ROLLED_BACK = {"ok": True}


def write_parts(out: Path, *, migration="succeeded", lost=0, gate="pass",
                rollback: object = ROLLED_BACK) -> RehearsalFiles:
    files = RehearsalFiles(out)
    out.mkdir(parents=True, exist_ok=True)
    files.times.write_text(json.dumps({"baseline_start": T0, "baseline_end": T0 + 30,
                                       "surge_start": T0 + 30, "surge_end": T0 + 120}))
    files.journal.write_text(json.dumps({
        "kind": "chartguard.chaos.journal", "status": "completed",
        "actions": [
            {"action": "add_toxic", "targets": ["edge-east"], "started": {"epoch": T0 + 30},
             "ended": {"epoch": T0 + 30.1}, "ok": True,
             "detail": {"toxic": {"name": "bgp-latency"}}},
            {"action": "add_toxic", "targets": ["edge-east"], "started": {"epoch": T0 + 30.1},
             "ended": {"epoch": T0 + 30.2}, "ok": True, "detail": {"toxic": {"name": "bgp-reset"}}},
            {"action": "remove_toxic", "targets": ["edge-east"], "started": {"epoch": T0 + 119},
             "ended": {"epoch": T0 + 119.1}, "ok": True},
            {"action": "remove_toxic", "targets": ["edge-east"], "started": {"epoch": T0 + 119.1},
             "ended": {"epoch": T0 + 119.2}, "ok": True},
            {"action": "disable_link", "targets": ["db-west"], "started": {"epoch": T0 + 60},
             "ended": {"epoch": T0 + 60.1}, "ok": True}],
        "ended": {"epoch": T0 + 121},
        "rollback": rollback}))
    files.surge_summary.parent.mkdir(parents=True, exist_ok=True)
    files.surge_summary.write_text(json.dumps({
        "verdict": "fail", "total": {"requests": 200, "failures": 0},
        "checks": [{"name": "read.p99_ms", "ok": False, "observed": 3000.0, "limit": 500.0}]}))
    files.migration.write_text(json.dumps({
        "kind": "migrate", "source": "east", "target": "west", "status": migration,
        "reason": "" if migration == "succeeded" else "postcheck: p99 too high",
        "started": T0 + 50, "ended": T0 + 70, "write_unavailable_s": 1.4, "rto_s": 1.6,
        "lost_writes": 0}))
    files.verify.write_text(json.dumps({"ok": lost == 0, "entries": 900, "acknowledged": 880,
                                        "indeterminate": 20, "lost": lost, "corrupted": 0}))
    files.gate.write_text(json.dumps({"outcome": gate, "checks": [
        {"check": "availability", "status": gate, "value": 0.9995, "threshold": 0.999,
         "comparator": ">=", "unit": "ratio"}]}))
    return files


def test_a_clean_rehearsal_passes(tmp_path):
    record = compose_record(write_parts(tmp_path))
    assert record.verdict == "pass", record.config["problems"]
    assert record.timings["rto"] == 1.4 and record.timings["rpo"] == 0
    assert {w.kind for w in record.windows} == {"fault", "step"}
    assert record.ledger["lost"] == 0 and record.gate[0].check == "availability"
    # One window per fault, from its first action to the end of the last (or of the run).
    faults = {w.label: (round(w.start - T0, 1), round(w.end - T0, 1))
              for w in record.windows if w.kind == "fault"}
    assert faults == {"bgp-latency, bgp-reset on edge-east": (30, 119.2),
                      "link down on db-west": (60, 121)}
    # What the practices saw is reported beside the gate, not as part of it.
    assert record.client["verdict"] == "fail" and record.client["checks"][0]["limit"] == 500.0


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"migration": "rolled_back"}, "migration rolled_back: postcheck: p99 too high"),
        ({"lost": 3}, "ledger verify failed: lost 3"),
        ({"gate": "fail"}, "gate fail: availability"),
    ],
)
def test_the_first_problem_is_the_reason(tmp_path, parts, reason):
    record = compose_record(write_parts(tmp_path, **parts))
    assert record.verdict == "fail"
    assert record.reason.startswith(reason)


@pytest.mark.parametrize(
    ("rollback", "reason"),
    [
        (None, "chaos rollback did not finish (run `chartguard chaos rollback`)"),
        ({}, "chaos rollback did not finish cleanly"),
        ({"ok": False, "errors": ["x"]}, "chaos rollback did not finish cleanly"),
    ],
)
def test_a_missing_or_failed_chaos_rollback_fails(tmp_path, rollback, reason):
    record = compose_record(write_parts(tmp_path, rollback=rollback))
    assert record.verdict == "fail" and record.reason == reason


def test_missing_parts_fail_rather_than_pass(tmp_path):
    record = compose_record(RehearsalFiles(tmp_path))
    assert record.verdict == "fail"
    assert "no chaos journal (the brownout did not run)" in record.config["problems"]
    assert any(p.startswith("no migration outcome") for p in record.config["problems"])
    assert "no gate result" in record.config["problems"]


def test_a_failed_playbook_step_leads_the_verdict(tmp_path):
    record = compose_record(write_parts(tmp_path))
    playbook = PlaybookResult(playbook="rehearse", status="failed", rc=2, started=T0, ended=T0 + 9,
                              tasks=[TaskRecord("bring the local stack up (Pulumi)",
                                                TaskStatus.FAILED, T0, T0 + 9, "no pulumi")])
    record = with_playbook(record, playbook)
    assert record.verdict == "fail"
    assert record.reason == "step 'bring the local stack up (Pulumi)' failed: no pulumi"
    assert record.steps[0]["seconds"] == 9


def test_options_refuse_impossible_timings():
    with pytest.raises(RunbookError, match="during the surge"):
        RehearsalOptions(surge_s=60, migrate_after_s=60)
    with pytest.raises(RunbookError, match="both 'east'"):
        RehearsalOptions(source="east", target="east")
    with pytest.raises(RunbookError, match="8 latency samples"):
        RehearsalOptions(baseline_s=30, gate_step_s=5)
    quick = RehearsalOptions.quick()
    assert quick.baseline_s + quick.surge_s <= 180
    assert quick.extravars(Path("/x"))["chaos_time_scale"] == 6.6667  # 600 nominal s -> 90 s
    assert quick.extravars(Path("/x"))["gate_step"] == 4


def test_rehearse_dry_run_and_bad_input():
    result = CliRunner().invoke(main, ["rehearse", "--quick", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "monday-surge 90s" in result.output and "migrate east -> west" in result.output
    result = CliRunner().invoke(main, ["rehearse", "--from", "west", "--to", "west"])
    assert result.exit_code == 2 and "both 'west'" in result.output


def test_rehearse_playbook_is_valid_ansible():
    playbook = PLAYBOOK_DIR / "rehearse.yml"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i",
         "localhost,", str(playbook)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
