"""Read-only degraded mode on a real PostgreSQL hot standby and on a read-only database."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ehr_core import Database, Settings, create_app
from ehr_core.seed import seed
from tests.ehr_core.conftest import PASSWORD, SEED_START, TEMPLATE_DB, make_settings, token_for
from tests.support.postgres import PostgresCluster

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def seeded_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"ro_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    db = Database(Settings(db_url=pg_cluster.url(name)))
    try:
        seed(db.engine, practices=1, patients=6, seed=3, password=PASSWORD, start=SEED_START)
        yield name
    finally:
        db.dispose()
        pg_cluster.drop_database(name)


def test_hot_standby_serves_reads_and_refuses_writes(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    # Sessions are minted on the primary and replicate, as after a failover of the router.
    primary_db = Database(Settings(db_url=pg_cluster.url(seeded_db)))
    try:
        owner = token_for(primary_db, "owner@practice-0000.test")
    finally:
        primary_db.dispose()
    with pg_cluster.start_standby() as standby:
        standby.wait_caught_up(pg_cluster)
        settings = make_settings(standby.url(seeded_db), tmp_path, region="test-west")
        with TestClient(create_app(settings)) as c:
            ready = c.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["role"] == "standby" and ready.json()["read_only"] is True
            # Caught up with an idle primary: no lag (not "seconds since the last commit").
            _wait_no_lag(c)
            # Reads work: the day's schedule, the patient list, a chart.
            schedule = c.get(f"/api/v1/schedule?date={SEED_START}", headers=owner)
            assert schedule.status_code == 200 and schedule.json()["items"]
            pid = schedule.json()["items"][0]["patient_id"]
            assert c.get(f"/api/v1/patients/{pid}/chart", headers=owner).status_code == 200
            # Writes answer 503 read_only naming the region, with Retry-After.
            for method, path, body in (
                (
                    "POST",
                    "/api/v1/patients",
                    {"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"},
                ),
                ("PATCH", f"/api/v1/patients/{pid}", {"address": "x", "version": 1}),
            ):
                # (Login works here: it issues a read-only session, test_degraded_login.py.)
                r = c.request(method, path, json=body, headers=owner)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"]
                assert r.headers["x-chartguard-region"] == "test-west"
                assert r.json()["error"] == "read_only" and r.json()["region"] == "test-west"
            assert 'chartguard_read_only{region="test-west"} 1.0' in c.get("/metrics").text
        # The reads served read-only were audited to the spool (ids only).
        spooled = [
            json.loads(line) for line in Path(settings.audit_spool_path).read_text().splitlines()
        ]
        assert {e["action"] for e in spooled} >= {"schedule.read", "patient.chart"}
        assert all(e["region"] == "test-west" for e in spooled)


def test_idle_caught_up_standby_reports_no_replication_lag(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    # After one replayed commit the primary goes idle: a lag measured as "time since the
    # last replayed transaction" would grow without bound and page someone.
    with pg_cluster.start_standby() as standby:
        with pg_cluster.connect(seeded_db) as conn:
            conn.execute("CREATE TABLE lag_probe (id int)")
            conn.execute("INSERT INTO lag_probe VALUES (1)")
        standby.wait_caught_up(pg_cluster)
        time.sleep(2.5)
        settings = make_settings(standby.url(seeded_db), tmp_path, region="test-west")
        with TestClient(create_app(settings)) as c:
            ready = c.get("/readyz").json()
            assert ready["role"] == "standby"
            _wait_no_lag(c)
            metrics = c.get("/metrics").text
            assert 'chartguard_replication_lag_seconds{region="test-west"} 0.0' in metrics


def test_a_standby_behind_reports_the_time_since_it_was_last_caught_up(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    # Lag measured as "age of the last replayed commit" would add the primary's idle time.
    with pg_cluster.start_standby() as standby:
        standby.wait_caught_up(pg_cluster)
        settings = make_settings(standby.url(seeded_db), tmp_path, region="test-west",
                                 role_cache_seconds=0)
        with TestClient(create_app(settings)) as c:
            time.sleep(3.0)  # the primary idles
            seen_caught_up = time.monotonic()
            _wait_no_lag(c)
            standby.execute("SELECT pg_wal_replay_pause()")
            try:
                with pg_cluster.connect(seeded_db) as conn:
                    conn.execute("CREATE TABLE lag_probe (id int)")
                _wait_received_not_replayed(standby)
                time.sleep(1.0)
                lag = c.get("/readyz").json()["replication_lag_seconds"]
                assert 1.0 <= lag <= time.monotonic() - seen_caught_up
            finally:
                standby.execute("SELECT pg_wal_replay_resume()")
            standby.wait_caught_up(pg_cluster)
            _wait_no_lag(c)


def _wait_no_lag(c: TestClient, timeout: float = 10) -> None:
    """Until the region reports a lag of 0 (an idle primary's background WAL can keep a
    standby a few milliseconds behind at any one moment)."""
    deadline = time.monotonic() + timeout
    while (lag := c.get("/readyz").json()["replication_lag_seconds"]) != 0:
        assert time.monotonic() < deadline, f"the standby still reports {lag} s of lag"
        time.sleep(0.1)


def _wait_received_not_replayed(standby: PostgresCluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if standby.scalar("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"):
            return
        time.sleep(0.05)
    raise AssertionError("the standby never received the primary's write")


def test_read_only_error_mid_request_answers_read_only(
    pg_cluster: PostgresCluster, seeded_db: str, tmp_path: Path
) -> None:
    """The role cache still says primary, but the database refuses the write (25006)."""
    settings = make_settings(pg_cluster.url(seeded_db), tmp_path, role_cache_seconds=60)
    db = Database(settings)
    owner = token_for(db, "owner@practice-0000.test")
    db.dispose()
    try:
        with TestClient(create_app(settings)) as c:
            assert c.get("/readyz").json()["read_only"] is False
            pg_cluster.execute(
                f'ALTER DATABASE "{seeded_db}" SET default_transaction_read_only = on'
            )
            c.app.state.db.engine.dispose()  # type: ignore[attr-defined]  # new connections
            body = {"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}
            r = c.post("/api/v1/patients", headers=owner, json=body)
            assert r.status_code == 503 and r.json()["error"] == "read_only"
            assert r.headers["retry-after"]
            # Now the cached role knows: reads still work, and are spooled.
            assert c.get("/api/v1/patients", headers=owner).status_code == 200
    finally:
        pg_cluster.execute(f'ALTER DATABASE "{seeded_db}" SET default_transaction_read_only = off')


def test_readyz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:9/nowhere", tmp_path, ready_timeout_seconds=0.5
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert c.get("/healthz").status_code == 200
