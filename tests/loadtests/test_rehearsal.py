"""Load rehearsals against a real EHR core (subprocesses on loopback, SQLite)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from loadtests.ledger import WriteStatus, read_ledger
from loadtests.verify import verify_ledger
from tests.loadtests.conftest import (
    CHARTGUARD,
    copy_db,
    finish,
    free_port,
    kill_group,
    start_load,
)
from tests.loadtests.slowproxy import SlowProxy

pytestmark = pytest.mark.integration

PASSWORD = "chartguard-seed-password"
# A 5-hour Monday at 300x: the ramp takes 6 s, the peak holds from 6 s to 24 s.
SURGE = ["--shape", "monday-surge", "--time-scale", "300", "--duration", "26", "--quiet"]
# The run judged on its rate holds the peak longer (12 s ramp, peak measured from 19 s to
# 45 s): a short window's count of paced requests varies by a few percent by itself.
SURGE_MEASURED = ["--shape", "monday-surge", "--time-scale", "150", "--duration", "45",
                  "--quiet"]  # fmt: skip


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def surge(seeded_db, ehr_factory, test_profile, tmp_path_factory):
    """One compressed Monday surge with a ledger, against its own EHR (shared by tests)."""
    work = tmp_path_factory.mktemp("surge")
    ehr = ehr_factory.start(copy_db(seeded_db, work / "ehr.db"))
    metrics_port = free_port()
    process = start_load(
        ["run", "--profile", str(test_profile), "--target", ehr.url, *SURGE_MEASURED,
         "--ledger", str(work / "ledger.jsonl"), "--out", str(work / "out")],
        cwd=work, env={"CHARTGUARD_LOAD_METRICS_PORT": str(metrics_port)},
    )  # fmt: skip
    scraped = ""
    deadline = time.monotonic() + 90
    while process.poll() is None and time.monotonic() < deadline:  # the last scrape wins
        try:
            scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            pass
        time.sleep(2)
    rc = finish(process)
    return {"rc": rc, "work": work, "ehr": ehr, "metrics": scraped}


def test_compressed_surge_reaches_its_target_rate_and_passes(surge):
    data = summary_of(surge["work"] / "out")
    assert surge["rc"] == 0, (data["verdict"], data["reasons"])
    assert data["verdict"] == "pass"
    assert data["achieved_rate_rps"] >= 0.95 * data["target_rate_rps"]
    assert data["target_rate_rps"] == pytest.approx(8.2, abs=0.1)
    assert data["measured_window"]["users_min"] == 15
    endpoints = {e["endpoint"] for e in data["endpoints"]}
    assert {"POST /api/v1/auth/login", "GET /api/v1/schedule",
            "GET /api/v1/patients/{id}/chart"} <= endpoints  # fmt: skip
    csv_rows = (surge["work"] / "out" / "endpoints.csv").read_text().splitlines()
    assert csv_rows[0].startswith("endpoint,class,requests,failures,rps,p50_ms,p95_ms,p99_ms")
    assert csv_rows[-1].startswith("Total,all,")
    assert data["ledger"]["ack"] > 10


def test_live_metrics_show_the_client_view(surge):
    text = surge["metrics"]
    assert 'chartguard_load_requests_total{class="read"' in text
    assert "chartguard_load_request_duration_seconds_bucket" in text
    assert "chartguard_load_users " in text
    # Labels are templates: no patient ids in endpoint labels.
    assert 'endpoint="/api/v1/patients/{id}/chart"' in text
    assert not re.search(r"/patients/[0-9]", text)


def test_verify_finds_every_acknowledged_write(surge):
    work, ehr = surge["work"], surge["ehr"]
    result = subprocess.run(
        [*CHARTGUARD, "load", "verify", "--ledger", str(work / "ledger.jsonl"),
         "--target", ehr.url, "--standby", ehr.url, "--out", str(work / "verify.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((work / "verify.json").read_text())
    assert data["ok"] and data["lost"] == 0 and data["corrupted"] == 0
    counts = data["targets"][0]["counts"]
    assert counts["ok"] == data["acknowledged"] > 10
    assert set(data["targets"][0]["read_regions"]) == {"east"}
    # The standby path (here the same single EHR, so it must agree): read with the
    # primary's sessions, reported on its own.
    assert [t["role"] for t in data["targets"]] == ["primary", "standby"]
    assert data["targets"][1]["counts"] == counts
    entries, _ = read_ledger(work / "ledger.jsonl")
    assert {"patient", "encounter", "appointment"} <= {e.kind for e in entries}
    # Acknowledged by east; a write the run's end cut short has no answer, so no region.
    assert {e.region for e in entries if e.status is WriteStatus.ack} == {"east"}


def test_a_hand_deleted_row_is_lost_and_a_hand_edited_one_corrupted(surge):
    work, ehr = surge["work"], surge["ehr"]
    entries, _ = read_ledger(work / "ledger.jsonl")
    encounter = next(e for e in entries if e.kind == "encounter" and e.op == "create")
    patient = next(e for e in entries if e.kind == "patient" and e.op == "update")
    with sqlite3.connect(ehr.db) as db:
        db.execute("DELETE FROM encounters WHERE id = ?", (int(encounter.id or 0),))
        db.execute("UPDATE patients SET address = 'nobody wrote this' WHERE id = ?",
                   (int(patient.id or 0),))  # fmt: skip
    result = verify_ledger(work / "ledger.jsonl", target=ehr.url, password=PASSWORD)
    assert not result.ok
    report = result.targets[0]
    assert result.lost >= 1
    assert any(ref.endswith(f"encounter/{encounter.id}") for ref in report.refs["lost"])
    # The edited address is corrupted unless a later acknowledged edit overwrote it first.
    assert result.corrupted >= 1
    assert any(ref.endswith(f"patient/{patient.id}") for ref in report.refs["corrupted"])


def test_a_slowed_endpoint_fails_the_p99_threshold(seeded_db, ehr_factory, test_profile,
                                                    tmp_path):  # fmt: skip
    ehr = ehr_factory.start(copy_db(seeded_db, tmp_path / "ehr.db"))
    with SlowProxy(ehr.url, pattern=r"/labs$", delay=2.0) as slow_url:
        process = start_load(
            ["run", "--profile", str(test_profile), "--target", slow_url, *SURGE,
             "--workers", "2", "--ledger", str(tmp_path / "ledger.jsonl"),
             "--out", str(tmp_path / "out")],
            cwd=tmp_path,
        )  # fmt: skip
        rc = finish(process)
    data = summary_of(tmp_path / "out")
    assert rc == 1 and data["verdict"] == "fail"
    failed = {c["name"] for c in data["checks"] if not c["ok"]}
    assert "read.p99_ms" in failed
    labs = next(e for e in data["endpoints"] if e["endpoint"] == "GET /api/v1/patients/{id}/labs")
    assert labs["p50_ms"] >= 2000
    # Distributed mode: two workers, each with its own ledger part.
    assert data["workers"] == 2
    parts = sorted(p.name for p in tmp_path.glob("ledger.jsonl.worker-*"))
    assert parts == ["ledger.jsonl.worker-0", "ledger.jsonl.worker-1"]


def test_killing_the_ehr_mid_run_leaves_indeterminate_writes_verify_classifies(
    seeded_db, ehr_factory, test_profile, tmp_path
):
    ehr = ehr_factory.start(copy_db(seeded_db, tmp_path / "ehr.db"))
    ledger = tmp_path / "ledger.jsonl"
    process = start_load(
        ["run", "--profile", str(test_profile), "--target", ehr.url, *SURGE,
         "--ledger", str(ledger), "--out", str(tmp_path / "out")],
        cwd=tmp_path, env={"CHARTGUARD_LOAD_REQUEST_TIMEOUT_SECONDS": "3"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # kill once writes are flowing
            if ledger.exists() and ledger.read_text().count('"ack"') >= 15:
                break
            time.sleep(0.3)
        kill_group(ehr.process, sig=signal.SIGKILL)
        time.sleep(4)  # writes meanwhile: refused connections, all indeterminate
        ehr_factory.start(ehr.db, port=ehr.port)
    finally:
        rc = finish(process)
    data = summary_of(tmp_path / "out")
    assert rc != 0 and data["verdict"] != "pass"
    entries, _ = read_ledger(ledger)
    indeterminate = [e for e in entries if e.status is WriteStatus.indeterminate]
    assert indeterminate, "no write was in flight or refused while the EHR was down"
    assert all(e.error for e in indeterminate)
    result = verify_ledger(ledger, target=ehr.url, password=PASSWORD)
    counts = result.targets[0].counts
    assert result.ok, result.to_dict()
    assert counts["lost"] == 0 and counts["corrupted"] == 0
    assert counts["recovered"] + counts["unapplied"] == len(indeterminate)
    assert os.path.exists(tmp_path / "out" / "endpoints.csv")


def test_step_capacity_steps_up_and_reports_a_knee(surge, test_profile, tmp_path):
    # A chaos journal whose fault (a toxic on edge-east) spans seconds 4 to 8 of the run.
    now = time.time()
    journal = {
        "kind": "chartguard.chaos.journal",
        "actions": [
            {"action": "add_toxic", "targets": ["edge-east"], "started": {"epoch": now + 4},
             "ended": {"epoch": now + 4.1}},
            {"action": "remove_toxic", "targets": ["edge-east"], "started": {"epoch": now + 8},
             "ended": {"epoch": now + 8.1}},
        ],
    }  # fmt: skip
    (tmp_path / "journal.json").write_text(json.dumps(journal))
    # 5-minute steps at 100x: 3 s each; four steps (25% .. 100% of the people) in 12 s.
    process = start_load(
        ["run", "--profile", str(test_profile), "--target", surge["ehr"].url,
         "--shape", "step-capacity", "--time-scale", "100", "--duration", "12.5",
         "--fault-journal", str(tmp_path / "journal.json"), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
    )  # fmt: skip
    finish(process)
    data = summary_of(tmp_path / "out")
    steps = data["capacity"]["steps"]
    assert [s["step"] for s in steps][:3] == ["step-1", "step-2", "step-3"]
    users = [s["users"] for s in steps]
    assert users == sorted(users) and users[0] < users[-1]
    assert all(s["target_rate_rps"] > 0 for s in steps)
    assert data["verdict"] in {"pass", "fail", "generator-bottleneck"}
    knee = data["capacity"]["knee"]
    assert knee is None or knee["users"] in users
    (fault,) = data["fault_windows"]
    assert fault["name"] == "add_toxic:edge-east" and fault["during_run"]
    # Times are relative to the run's start (a few seconds after the journal's "now").
    assert 0 < fault["start_s"] < fault["end_s"] < 10
    assert fault["end_s"] - fault["start_s"] == pytest.approx(4.1, abs=0.01)
    assert fault["stats"]["requests"] > 0
    # Without --quiet the live table ran and the summary table was printed.
    log = next(tmp_path.glob("load-*.log")).read_text()
    assert "step-capacity against" in log and "verdict:" in log


def test_verify_against_an_unreachable_standby_says_so(surge):
    """Every standby read fails to connect: a FAIL (nothing was verified there) that names
    the unreachable standby once, not only a list of unreadable entries."""
    work, ehr = surge["work"], surge["ehr"]
    closed = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [*CHARTGUARD, "load", "verify", "--ledger", str(work / "ledger.jsonl"),
         "--target", ehr.url, "--standby", closed, "--out", str(work / "verify-closed.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"problem: cannot reach the standby at {closed} (connection refused" in result.stdout
    data = json.loads((work / "verify-closed.json").read_text())
    assert data["targets"][0]["counts"]["unreadable"] == 0
    assert data["targets"][1]["counts"]["unreadable"] == data["entries"]


def test_verify_reads_whole_listings_and_finds_every_duplicate(seeded_db, ehr_factory, tmp_path):
    """Creates beyond a listing's first page are found (not called unapplied), and a create
    that landed twice is caught even when nobody retried it and the copies sit on
    different pages."""
    from loadtests.ledger import LedgerEntry, LedgerWriter, content_hash, field_hashes

    ehr = ehr_factory.start(copy_db(seeded_db, tmp_path / "ehr.db"))
    practice = "practice-0000"
    with httpx.Client(base_url=ehr.url, timeout=10) as client:
        login = client.post("/api/v1/auth/login",
                            json={"email": f"owner@{practice}.test", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        pid = client.get("/api/v1/patients?page_size=1", headers=auth).json()["items"][0]["id"]
        tokens = [f"tok{i}x" for i in range(5)]
        written = []
        for token in [*tokens, tokens[1]]:  # tokens[1] lands twice
            values = {"substance": "latex", "reaction": f"rash (ref {token})", "severity": "mild"}
            r = client.post(f"/api/v1/patients/{pid}/allergies", headers=auth, json=values)
            assert r.status_code == 201
            written.append(values)
    locate = f"/api/v1/patients/{pid}/allergies?page_size=2"  # three pages of two
    with LedgerWriter(tmp_path / "ledger.jsonl") as ledger:
        for token, values in zip(tokens, written, strict=False):
            ledger.append(LedgerEntry(
                status=WriteStatus.indeterminate, op="create", kind="allergy",
                practice=practice, fields=field_hashes(values), hash=content_hash(values),
                at=time.time(), key=token, locate=locate, idempotency_key=token,
            ))  # fmt: skip
    result = verify_ledger(tmp_path / "ledger.jsonl", target=ehr.url, password=PASSWORD)
    report = result.targets[0]
    assert report.counts["recovered"] == 5 and report.counts["unapplied"] == 0
    assert report.counts["duplicated"] == 1 and report.refs["duplicated"] == ["local#2 allergy/?"]
    assert not result.ok and result.problems == []
