"""``Idempotency-Key`` on the EHR's writes, on SQLite and a real PostgreSQL.

A keyed write is stored with its answer in one transaction; the same key + request replays
the answer without writing again; another request with the key is refused; errors are not
stored; keys are per user and expire.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update

from ehr_core import Database, Settings, create_app
from ehr_core.errors import IdempotencyKeyInFlight
from ehr_core.fhir import ExportJob
from ehr_core.idempotency import KeyedWrite, RequestKey, keyed_write, purge_expired
from ehr_core.models import AuditEntry, IdempotencyRecord, Patient, utcnow
from tests.ehr_core.conftest import World

KEY = "Idempotency-Key"
NEW_PATIENT = {"given_name": "Ida", "family_name": "Potent", "birth_date": "1980-02-03"}


def count(settings: Settings, model: Any, *where: Any) -> int:
    db = Database(settings)
    try:
        with db.session() as session:
            return int(
                session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
            )
    finally:
        db.dispose()


def post_patient(
    client: TestClient, headers: dict[str, str], key: str | None, body: dict[str, Any] | None = None
) -> Any:
    extra = {KEY: key} if key is not None else {}
    return client.post("/api/v1/patients", json=body or NEW_PATIENT, headers={**headers, **extra})


@pytest.fixture
def world_db(world: World) -> Iterator[Database]:
    db = Database(world.settings)
    try:
        yield db
    finally:
        db.dispose()


def test_replay_returns_the_same_answer_and_writes_once(world: World) -> None:
    c, owner = world.client, world.a.owner
    patients = count(world.settings, Patient)
    audits = count(world.settings, AuditEntry)
    key = str(uuid.uuid4())
    first = post_patient(c, owner, key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = post_patient(c, owner, key)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert count(world.settings, Patient) == patients + 1
    # The write's own audit entry, and none for the replay.
    assert count(world.settings, AuditEntry) == audits + 1
    assert count(world.settings, IdempotencyRecord) == 1
    metrics = c.get("/metrics").text
    for outcome in ("stored", "replayed"):
        line = f'chartguard_idempotency_keys_total{{outcome="{outcome}",region="test-east"}} 1.0'
        assert line in metrics


def test_a_key_with_another_body_or_path_is_422_and_changes_nothing(world: World) -> None:
    c, owner = world.client, world.a.owner
    key = "order-17:attempt.1"
    assert post_patient(c, owner, key).status_code == 201
    patients = count(world.settings, Patient)
    other = post_patient(c, owner, key, {**NEW_PATIENT, "given_name": "Other"})
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert KEY in other.json()["detail"]
    assert other.json()["fields"][0]["field"] == f"header.{KEY}"
    assert "Other" not in other.text and "Potent" not in other.text  # no PHI in the error
    pid = world.a.patient_ids[0]
    lab = {"loinc": "2345-7", "name": "Glucose", "value": 5.1, "unit": "mmol/L"}
    moved = c.post(f"/api/v1/patients/{pid}/labs", json=lab, headers={**owner, KEY: key})
    assert moved.status_code == 422 and moved.json()["error"] == "idempotency_key_reused"
    assert count(world.settings, Patient) == patients


def test_keys_are_per_user(world: World) -> None:
    c = world.client
    key = "shared-key"
    a = post_patient(c, world.a.owner, key)
    b = post_patient(c, world.a.staff, key)  # same practice, another user
    other_practice = post_patient(c, world.b.owner, key)
    assert {a.status_code, b.status_code, other_practice.status_code} == {201}
    assert "idempotent-replayed" not in b.headers
    assert len({a.json()["id"], b.json()["id"], other_practice.json()["id"]}) == 3
    assert other_practice.json()["id"] not in world.a.patient_ids


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon", "naïve"])
def test_a_malformed_key_is_422_naming_the_header(world: World, bad: str) -> None:
    patients = count(world.settings, Patient)
    r = world.client.post(
        "/api/v1/patients",
        json=NEW_PATIENT,
        headers={**world.a.owner, KEY: bad.encode()},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert f"header.{KEY}" in r.json()["detail"]
    assert count(world.settings, Patient) == patients
    assert count(world.settings, IdempotencyRecord) == 0


def test_errors_are_not_stored_and_a_retry_executes_again(world: World) -> None:
    c, owner = world.client, world.a.owner
    key = "retry-after-error"
    missing = c.post(
        "/api/v1/patients/999999/labs",
        json={"loinc": "2345-7", "name": "Glucose", "value": 5.1, "unit": "mmol/L"},
        headers={**owner, KEY: key},
    )
    assert missing.status_code == 404
    assert count(world.settings, IdempotencyRecord) == 0
    # The key is still free: another request with it runs (it is not "reused").
    assert post_patient(c, owner, key).status_code == 201
    # A stale-version PATCH fails every time it is retried; nothing is stored for it.
    pid = world.a.patient_ids[0]
    stale = {"phone": "+15550000000", "version": 999}
    for _ in range(2):
        r = c.patch(f"/api/v1/patients/{pid}", json=stale, headers={**owner, KEY: "stale"})
        assert r.status_code == 409 and "idempotent-replayed" not in r.headers
    assert count(world.settings, IdempotencyRecord) == 1


def test_a_replayed_update_does_not_apply_twice(world: World) -> None:
    c, owner = world.client, world.a.owner
    pid = world.a.patient_ids[1]
    version = c.get(f"/api/v1/patients/{pid}", headers=owner).json()["version"]
    body = {"phone": "+15551230000", "version": version}
    first = c.patch(f"/api/v1/patients/{pid}", json=body, headers={**owner, KEY: "upd-1"})
    assert first.status_code == 200 and first.json()["version"] == version + 1
    # Without the key this retry would be a stale-version 409; with it, the same answer.
    again = c.patch(f"/api/v1/patients/{pid}", json=body, headers={**owner, KEY: "upd-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert c.get(f"/api/v1/patients/{pid}", headers=owner).json()["version"] == version + 1


def test_concurrent_requests_with_one_key_write_once(world: World) -> None:
    c, owner = world.client, world.a.owner
    patients = count(world.settings, Patient)
    results: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        r = post_patient(c, owner, "burst")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 6
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in results if r.status_code == 201]
    originals = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(originals) == 1
    assert all(r.content == originals[0].content for r in created)
    for r in results:
        if r.status_code == 409:
            assert r.json()["error"] == "idempotency_key_in_flight"
            assert r.headers["Retry-After"] == "1"
    assert count(world.settings, Patient) == patients + 1


def test_in_flight_key_is_409_on_postgres(world: World, world_db: Database) -> None:
    if not world_db.engine.dialect.name == "postgresql":
        pytest.skip("SQLite serializes whole transactions: a second request waits instead")
    key = RequestKey(key="in-flight", method="POST", path="/api/v1/patients", request_sha256="0")
    with world_db.session() as first, world_db.session() as second:
        KeyedWrite(key, ttl_seconds=60).begin(first, user_id=world.a.owner_id, practice_id=1)
        with pytest.raises(IdempotencyKeyInFlight):
            KeyedWrite(key, ttl_seconds=60).begin(second, user_id=world.a.owner_id, practice_id=1)
        first.rollback()  # the lock ends with the first request's transaction
        KeyedWrite(key, ttl_seconds=60).begin(second, user_id=world.a.owner_id, practice_id=1)


def test_write_and_key_commit_in_one_transaction(world: World, world_db: Database) -> None:
    r = post_patient(world.client, world.a.owner, "one-transaction")
    assert r.status_code == 201
    if world_db.engine.dialect.name != "postgresql":
        return  # SQLite has no transaction ids; the failure test below covers it
    with world_db.session() as session:
        patient_xmin = session.execute(
            text("SELECT xmin::text FROM patients WHERE id = :id"), {"id": r.json()["id"]}
        ).scalar_one()
        key_xmin = session.execute(
            text("SELECT xmin::text FROM idempotency_keys WHERE key = 'one-transaction'")
        ).scalar_one()
        audit_xmin = session.execute(
            text("SELECT xmin::text FROM audit_entries ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    assert patient_xmin == key_xmin == audit_xmin


def test_a_failure_between_write_and_answer_leaves_neither(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, owner = world.client, world.a.owner
    patients = count(world.settings, Patient)
    real_append = keyed_write.audit.append

    def dying_append(*_args: Any, **_kwargs: Any) -> int:
        # The write and the key row are flushed; the process "dies" before the commit.
        raise RuntimeError("killed between the write and its answer")

    monkeypatch.setattr(keyed_write.audit, "append", dying_append)
    failed = post_patient(c, owner, "dies")
    assert failed.status_code == 500
    assert failed.json()["error"] == "internal_error"
    assert count(world.settings, Patient) == patients
    assert count(world.settings, IdempotencyRecord) == 0
    monkeypatch.setattr(keyed_write.audit, "append", real_append)
    retried = post_patient(c, owner, "dies")
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert count(world.settings, Patient) == patients + 1


def test_read_only_region_answers_503_and_stores_nothing(world: World, tmp_path: Path) -> None:
    settings = world.settings.model_copy(update={"role_cache_seconds": 60.0})
    with TestClient(create_app(settings)) as c:
        c.app.state.region.mark_read_only()  # type: ignore[attr-defined]
        r = post_patient(c, world.a.owner, "on-standby")
        assert r.status_code == 503 and r.json()["error"] == "read_only"
    assert count(world.settings, IdempotencyRecord) == 0


def test_expired_keys_execute_again_and_are_purged(world: World, world_db: Database) -> None:
    c, owner = world.client, world.a.owner
    first = post_patient(c, owner, "old-key")
    assert first.status_code == 201
    long_ago = utcnow() - dt.timedelta(hours=25)
    with world_db.transaction() as session:
        session.execute(update(IdempotencyRecord).values(created_at=long_ago))
    again = post_patient(c, owner, "old-key")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert count(world.settings, IdempotencyRecord) == 1  # the expired answer was replaced
    assert post_patient(c, owner, "another").status_code == 201
    with world_db.transaction() as session:
        session.execute(update(IdempotencyRecord).values(created_at=long_ago))
        assert purge_expired(session, before=utcnow() - dt.timedelta(hours=24), limit=1) == 1
        assert purge_expired(session, before=utcnow() - dt.timedelta(hours=24), limit=10) == 1
    assert count(world.settings, IdempotencyRecord) == 0


def test_export_kick_off_with_a_key_starts_one_job(world: World, tmp_path: Path) -> None:
    settings = world.settings.model_copy(update={"export_dir": str(tmp_path / "exports")})
    app = create_app(settings)
    headers = {
        **world.a.owner,
        "Prefer": "respond-async",
        "Accept": "application/fhir+json",
        KEY: "export-1",
    }
    try:
        with TestClient(app) as c:
            first = c.get("/fhir/r4/$export", headers=headers)
            assert first.status_code == 202, first.text
            again = c.get("/fhir/r4/$export", headers=headers)
            assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
            assert again.headers["Content-Location"] == first.headers["Content-Location"]
            assert count(settings, ExportJob) == 1
            assert app.state.fhir_exports.runner.join(timeout=60)
            status = c.get(first.headers["Content-Location"], headers=world.a.owner)
            assert status.status_code == 200, status.text  # the runner saw the committed job
    finally:
        exports = getattr(app.state, "fhir_exports", None)
        if exports is not None:
            exports.runner.join(timeout=60)


def test_openapi_documents_the_header_on_writes_only(world: World) -> None:
    spec = world.client.get("/api/v1/openapi.json").json()

    def has_key(path: str, method: str) -> bool:
        params = spec["paths"][path][method].get("parameters", [])
        return any(p["in"] == "header" and p["name"] == KEY for p in params)

    assert has_key("/api/v1/patients", "post")
    assert has_key("/api/v1/patients/{patient_id}", "patch")
    assert has_key("/api/v1/appointments", "post")
    assert has_key("/fhir/r4/$export", "get")
    assert not has_key("/api/v1/patients/{patient_id}", "get")
    assert not has_key("/api/v1/schedule", "get")


def test_the_purge_command_deletes_only_expired_keys(world: World, world_db: Database) -> None:
    from click.testing import CliRunner

    from ehr_core.cli import ehr

    c, owner = world.client, world.a.owner
    for key in ("old-1", "old-2", "fresh"):
        assert post_patient(c, owner, key, {**NEW_PATIENT, "given_name": key}).status_code == 201
    with world_db.transaction() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key.in_(["old-1", "old-2"]))
            .values(created_at=utcnow() - dt.timedelta(hours=25))
        )
    result = CliRunner().invoke(ehr, ["idempotency-purge", "--db", world.settings.db_url])
    assert result.exit_code == 0, result.output
    assert "purged 2 expired idempotency keys" in result.output
    assert count(world.settings, IdempotencyRecord) == 1


def test_migration_0005_downgrades_and_upgrades(settings: Settings) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from ehr_core.migrate import alembic_config, upgrade

    def has_table() -> bool:
        db = Database(settings)
        try:
            with db.engine.connect() as conn:
                return inspect(conn).has_table("idempotency_keys")
        finally:
            db.dispose()

    assert has_table()
    command.downgrade(alembic_config(settings), "0004")
    assert not has_table()
    upgrade(settings)
    assert has_table()
