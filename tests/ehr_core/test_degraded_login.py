"""Signing in on a read-only region: a read-only session on a real PostgreSQL hot standby,
ended by the standby's promotion; and nothing changes on a primary."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from ehr_core import Database, Settings, create_app
from ehr_core.cli import ehr
from ehr_core.read_only_sessions import TOKEN_PREFIX
from ehr_core.seed import seed
from ehr_core.switchover import announce
from tests.ehr_core.conftest import PASSWORD, SEED_START, TEMPLATE_DB, make_settings
from tests.support.postgres import PostgresCluster

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

LOGIN = "/api/v1/auth/login"
OWNER = "owner@practice-0000.test"
CLINICIAN = "clinician1@practice-0000.test"
STAFF = "staff1@practice-0000.test"
NEW_PATIENT = {"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}


@pytest.fixture
def seeded_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"rol_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    db = Database(Settings(db_url=pg_cluster.url(name)))
    try:
        seed(db.engine, practices=1, patients=4, seed=3, password=PASSWORD, start=SEED_START)
        yield name
    finally:
        db.dispose()
        pg_cluster.drop_database(name)


def _replayed(standby: PostgresCluster, db: str, sql: str, params: tuple[object, ...]) -> None:
    """Wait until the standby's ``sql`` is true: the primary's change was replayed (cheaper
    than ``wait_caught_up``, which also waits for WAL an idle primary has not sent)."""
    deadline = time.monotonic() + 30
    while not standby.scalar(sql, params, dbname=db):
        assert time.monotonic() < deadline, "the standby did not replay the change in 30 s"
        time.sleep(0.05)


def _login(c: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = c.post(LOGIN, json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_standby_login_reads_refuses_writes_and_ends_at_promotion(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    with pg_cluster.connect(seeded_db) as conn:
        conn.execute("UPDATE users SET disabled = true WHERE email = %s", (STAFF,))
    with pg_cluster.start_standby() as standby:
        _replayed(standby, seeded_db, "SELECT disabled FROM users WHERE email = %s", (STAFF,))
        # role_cache_seconds=0: every request sees the database's role as it is now.
        settings = make_settings(
            standby.url(seeded_db), tmp_path, region="test-west", role_cache_seconds=0
        )
        store = settings.read_only_sessions_file
        with TestClient(create_app(settings)) as c:
            r = c.post(LOGIN, json={"email": OWNER, "password": PASSWORD})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["read_only"] is True and body["region"] == "test-west"
            assert body["user"]["role"] == "owner" and body["token"].startswith(TOKEN_PREFIX)
            owner = {"Authorization": f"Bearer {body['token']}"}
            # Stored outside the database, next to the audit spool, hashed at rest.
            assert store.parent == Path(settings.audit_spool_path).parent
            assert store.stat().st_mode & 0o077 == 0
            assert body["token"].encode() not in store.read_bytes()

            # Reads work with it: the day's schedule and a chart.
            schedule = c.get(f"/api/v1/schedule?date={SEED_START}", headers=owner)
            assert schedule.status_code == 200 and schedule.json()["items"]
            pid = schedule.json()["items"][0]["patient_id"]
            assert c.get(f"/api/v1/patients/{pid}/chart", headers=owner).status_code == 200
            # Writes (logout and password change too) answer 503 read_only as every write.
            for path, payload in (
                ("/api/v1/patients", NEW_PATIENT),
                ("/api/v1/auth/logout", None),
                ("/api/v1/auth/password", {"current_password": PASSWORD, "new_password": "x" * 16}),
            ):
                w = c.post(path, headers=owner, json=payload)
                assert w.status_code == 503 and w.json()["error"] == "read_only", (path, w.text)
                assert w.headers["retry-after"]

            # Wrong password, unknown e-mail, disabled account: the same 401 as on a primary.
            refused = [
                c.post(LOGIN, json={"email": OWNER, "password": "wrong-password"}),
                c.post(LOGIN, json={"email": "who@nowhere.test", "password": PASSWORD}),
                c.post(LOGIN, json={"email": STAFF, "password": PASSWORD}),
            ]
            assert {x.status_code for x in refused} == {401}
            assert refused[0].json() == refused[1].json() == refused[2].json()
            assert c.post(LOGIN, json={"email": OWNER}).status_code == 422
            forged = {"Authorization": f"Bearer {TOKEN_PREFIX}forged"}
            assert c.get("/api/v1/patients", headers=forged).status_code == 401

            # A password change made on the primary replicates and ends the clinician's
            # read-only session, as it ends database sessions.
            clinician = _login(c, CLINICIAN)
            assert c.get("/api/v1/patients", headers=clinician).status_code == 200
            with pg_cluster.connect(seeded_db) as conn:
                changed_at = conn.execute(
                    "UPDATE users SET password_changed_at = now() WHERE email = %s"
                    " RETURNING password_changed_at",
                    (CLINICIAN,),
                ).fetchone()
            replayed = "SELECT password_changed_at = %s FROM users WHERE email = %s"
            _replayed(
                standby, seeded_db, replayed, (changed_at[0] if changed_at else None, CLINICIAN)
            )
            assert c.get("/api/v1/patients", headers=clinician).status_code == 401

            # The region is promoted: the read-only session ends, with a reason.
            standby.execute("SELECT pg_promote()")
            gone = c.get("/api/v1/patients", headers=owner)
            assert gone.status_code == 401 and "sign in again" in gone.json()["detail"]
            assert c.post("/api/v1/patients", headers=owner, json=NEW_PATIENT).status_code == 401
            # A new login is an ordinary database session, which writes.
            r = c.post(LOGIN, json={"email": OWNER, "password": PASSWORD})
            assert r.status_code == 200 and r.json()["read_only"] is False
            assert not r.json()["token"].startswith(TOKEN_PREFIX)
            fresh = {"Authorization": f"Bearer {r.json()['token']}"}
            assert c.post("/api/v1/patients", headers=fresh, json=NEW_PATIENT).status_code == 201

            # The spooled sign-ins (ids only) enter the promoted region's audit chain.
            spool = Path(settings.audit_spool_path)
            spooled = [json.loads(line) for line in spool.read_text().splitlines()]
            logins = [e for e in spooled if e["action"] == "auth.login_read_only"]
            assert len(logins) == 2 and {e["region"] for e in logins} == {"test-west"}
            assert logins[0]["resource_type"] == "user"
            assert logins[0]["user_id"] == body["user"]["id"]
            result = CliRunner().invoke(
                ehr, ["audit-import-spool", "--db", settings.db_url, "--spool", str(spool)]
            )
            assert result.exit_code == 0, result.output
            entries = c.get("/api/v1/audit?page_size=500", headers=fresh).json()["items"]
            chained = [e for e in entries if e["action"] == "spooled:auth.login_read_only"]
            assert {e["user_id"] for e in chained} == {e["user_id"] for e in logins}
            assert c.post("/api/v1/audit/verify", headers=fresh).json()["ok"] is True


def test_login_during_an_announced_switchover_waits_for_the_promotion(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    """A planned switchover holds a login like a write: once the standby is promoted the
    login gets an ordinary session, not a read-only one that would end at once."""
    with pg_cluster.start_standby() as standby:
        announce(pg_cluster.url(seeded_db), source="east", target="west", hold_s=10)
        announced = "SELECT count(*) = 1 FROM switchover"
        _replayed(standby, seeded_db, announced, ())
        settings = make_settings(standby.url(seeded_db), tmp_path, region="west")
        with TestClient(create_app(settings)) as c:
            assert c.get("/readyz").json()["read_only"] is True

            def promote_later() -> None:
                time.sleep(0.5)
                standby.execute("SELECT pg_promote(true, 30)", dbname=seeded_db)

            promoter = threading.Thread(target=promote_later, name="promote", daemon=True)
            promoter.start()
            started = time.monotonic()
            r = c.post(LOGIN, json={"email": OWNER, "password": PASSWORD})
            waited = time.monotonic() - started
            promoter.join(timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["read_only"] is False and waited >= 0.5
            fresh = {"Authorization": f"Bearer {r.json()['token']}"}
            assert c.post("/api/v1/patients", headers=fresh, json=NEW_PATIENT).status_code == 201
        assert not settings.read_only_sessions_file.exists()
