"""The hash-chained audit log: appended on reads and writes, verifiable, tamper-evident."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import delete, select, update

from ehr_core.cli import ehr
from ehr_core.db import Database
from ehr_core.models import AuditEntry
from tests.ehr_core.conftest import World


def _entries(world: World) -> list[dict]:
    r = world.client.get("/api/v1/audit?page_size=500", headers=world.a.owner)
    assert r.status_code == 200
    return r.json()["items"]


def test_reads_and_writes_are_audited_with_who_what_where(world: World) -> None:
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    c.get(f"/api/v1/patients/{pid}/chart", headers=a.staff)
    c.patch(
        f"/api/v1/patients/{pid}",
        headers={**a.clinician, "If-Match": "1"},
        json={"address": "1 New Street"},
    )
    entries = _entries(world)
    update_entry, chart_entry = entries[0], entries[1]
    assert chart_entry["action"] == "patient.chart" and chart_entry["patient_id"] == pid
    assert update_entry["action"] == "patient.update"
    assert update_entry["remote_addr"]
    assert update_entry["prev_hash"] == chart_entry["hash"]
    # Another practice's chain is separate.
    other = c.get("/api/v1/audit?page_size=500", headers=world.b.owner).json()["items"]
    assert not {e["id"] for e in other} & {e["id"] for e in entries}


def test_verify_detects_an_altered_entry_and_names_it(world: World) -> None:
    c, a = world.client, world.a
    for pid in a.patient_ids[:3]:
        c.get(f"/api/v1/patients/{pid}", headers=a.staff)
    ok = c.post("/api/v1/audit/verify", headers=a.owner).json()
    assert ok["ok"] is True and ok["entries_checked"] == ok["head_seq"] >= 4
    victim = _entries(world)[2]
    db = Database(world.settings)
    try:
        with db.transaction() as session:
            session.execute(
                update(AuditEntry).where(AuditEntry.id == victim["id"]).values(user_id=999)
            )
    finally:
        db.dispose()
    broken = c.post("/api/v1/audit/verify", headers=a.owner).json()
    assert broken["ok"] is False
    assert broken["first_break"]["entry_id"] == victim["id"]
    assert "altered" in broken["first_break"]["reason"]
    # The command line says the same and exits 1.
    result = CliRunner().invoke(
        ehr, ["audit-verify", "--db", world.settings.db_url, "--practice", a.slug]
    )
    assert result.exit_code == 1
    assert f"id={victim['id']}" in result.output


def test_verify_detects_deleted_entries(world: World) -> None:
    c, a = world.client, world.a
    for pid in a.patient_ids[:3]:
        c.get(f"/api/v1/patients/{pid}", headers=a.staff)
    db = Database(world.settings)
    try:
        with db.transaction() as session:
            last = session.execute(
                select(AuditEntry.id)
                .where(AuditEntry.practice_id == a.practice_id)
                .order_by(AuditEntry.seq.desc())
            ).first()
            assert last is not None
            session.execute(delete(AuditEntry).where(AuditEntry.id == last[0]))
    finally:
        db.dispose()
    broken = c.post("/api/v1/audit/verify", headers=a.owner).json()
    assert broken["ok"] is False and "removed" in broken["first_break"]["reason"]
    result = CliRunner().invoke(ehr, ["audit-verify", "--db", world.settings.db_url])
    assert result.exit_code == 1
    assert "practice-0001: ok" in result.output


def test_spooled_reads_are_chained_later(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ehr_core import audit

    spool = tmp_path / "spool.jsonl"
    for pid in world.a.patient_ids[:2]:
        audit.spool(
            str(spool),
            audit.AuditEvent(
                practice_id=world.a.practice_id,
                action="patient.chart",
                resource_type="patient",
                resource_id=str(pid),
                patient_id=pid,
                user_id=world.a.owner_id,
            ),
            region="west",
        )
    result = CliRunner().invoke(
        ehr, ["audit-import-spool", "--db", world.settings.db_url, "--spool", str(spool)]
    )
    assert result.exit_code == 0, result.output
    assert "imported 2" in result.output and not spool.exists()
    actions = [e["action"] for e in _entries(world)]
    assert actions[:2] == ["spooled:patient.chart", "spooled:patient.chart"]
    assert world.client.post("/api/v1/audit/verify", headers=world.a.owner).json()["ok"]
    # A corrupt spool is refused and changes nothing.
    spool.write_text("not json\n")
    result = CliRunner().invoke(
        ehr, ["audit-import-spool", "--db", world.settings.db_url, "--spool", str(spool)]
    )
    assert result.exit_code == 1 and "line 1" in result.output
    assert [e["action"] for e in _entries(world)][:2] == actions[:2]


def test_concurrent_appends_keep_one_unbroken_chain(world: World) -> None:
    """Eight threads appending at once (as gunicorn workers and their thread pools do):
    the head row lock (PostgreSQL) / BEGIN IMMEDIATE (SQLite) orders them."""
    import threading

    from ehr_core import audit

    db = Database(world.settings)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with db.transaction() as session:
                    audit.append(
                        session,
                        audit.AuditEvent(
                            practice_id=world.a.practice_id,
                            action="test.concurrent",
                            resource_type="patient",
                            resource_id=f"{n}-{i}",
                        ),
                    )
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        db.dispose()
    assert not errors, errors
    result = world.client.post("/api/v1/audit/verify", headers=world.a.owner).json()
    assert result["ok"] is True and result["entries_checked"] >= 80


def test_appends_of_awkward_text_hash_as_python_verifies(world: World) -> None:
    """PostgreSQL hashes inside ``chartguard_audit_append`` and Python verifies: quotes,
    backslashes, control and non-ASCII characters must give the same canonical text on
    both sides, and entries stay in time order along the chain."""
    from ehr_core import audit

    db = Database(world.settings)
    awkward = ['"quoted"', "back\\slash", "tab\tnew\nline\x01\x7f", "Zoë ∂ 日本", "/", ""]
    try:
        for i, value in enumerate(awkward):
            event = audit.AuditEvent(
                practice_id=world.a.practice_id,
                action=f"test.awkward.{i}",
                resource_type="patient",
                resource_id=value,
                remote_addr=value or None,
            )
            if i % 2:
                audit.append_now(db.engine, event)
            else:
                with db.transaction() as session:
                    audit.append(session, event)
        with db.session() as session:
            result = audit.verify(session, world.a.practice_id)
            rows = session.execute(
                select(AuditEntry.seq, AuditEntry.at, AuditEntry.resource_id)
                .where(AuditEntry.practice_id == world.a.practice_id)
                .order_by(AuditEntry.seq)
            ).all()
    finally:
        db.dispose()
    assert result.ok, result.first_break
    assert [r.resource_id for r in rows[-len(awkward) :]] == awkward
    assert [r.at for r in rows] == sorted(r.at for r in rows)


def test_a_read_is_audited_before_its_answer_and_frees_the_chain(world: World) -> None:
    """A read's entry is committed by the time the answer arrives, and it leaves no
    transaction open that holds the practice's chain (a write right after succeeds)."""
    c, a = world.client, world.a
    pid = a.patient_ids[0]
    r = c.get(f"/api/v1/patients/{pid}/labs", headers=a.staff)
    assert r.status_code == 200
    db = Database(world.settings)
    try:
        with db.session() as session:
            last = session.execute(
                select(AuditEntry.action, AuditEntry.patient_id)
                .where(AuditEntry.practice_id == a.practice_id)
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            ).one()
    finally:
        db.dispose()
    assert (last.action, last.patient_id) == ("lab.list", pid)
    w = c.patch(f"/api/v1/patients/{pid}", headers={**a.clinician, "If-Match": "1"}, json={})
    assert w.status_code == 200
    assert CliRunner().invoke(ehr, ["audit-verify", "--db", world.settings.db_url]).exit_code == 0
