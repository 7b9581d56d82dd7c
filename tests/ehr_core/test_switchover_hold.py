"""A write reaching a hot standby during an announced switchover waits for the promotion
instead of answering 503 read_only (real PostgreSQL primary + streaming hot standby)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ehr_core import Database, Settings, create_app
from ehr_core.seed import seed
from ehr_core.switchover import announce
from tests.ehr_core.conftest import PASSWORD, SEED_START, TEMPLATE_DB, make_settings, token_for
from tests.support.postgres import PostgresCluster

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PROMOTE_AFTER_S = 0.5
KEY = "Idempotency-Key"


@pytest.fixture
def seeded_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"hold_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    db = Database(Settings(db_url=pg_cluster.url(name)))
    try:
        seed(db.engine, practices=1, patients=3, seed=5, password=PASSWORD, start=SEED_START)
        yield name
    finally:
        db.dispose()
        pg_cluster.drop_database(name)


@pytest.fixture
def owner(pg_cluster: PostgresCluster, seeded_db: str) -> dict[str, str]:
    """A session minted on the primary (it replicates, as after a router switch)."""
    db = Database(Settings(db_url=pg_cluster.url(seeded_db)))
    try:
        return token_for(db, "owner@practice-0000.test")
    finally:
        db.dispose()


@pytest.fixture
def standby(pg_cluster: PostgresCluster, owner: dict[str, str]) -> Iterator[PostgresCluster]:
    """A hot standby cloned after the seed and the owner's session (both in its copy)."""
    with pg_cluster.start_standby() as node:
        yield node


def _announce(
    primary: PostgresCluster, standby: PostgresCluster, dbname: str, *, hold_s: float
) -> None:
    """Announce the east -> west switchover on the primary; return once the standby has it."""
    announce(primary.url(dbname), source="east", target="west", hold_s=hold_s)
    standby.wait_caught_up(primary)


def _standby_app(standby: PostgresCluster, dbname: str, tmp_path: Path, **kw: object) -> TestClient:
    return TestClient(create_app(make_settings(standby.url(dbname), tmp_path, region="west", **kw)))


def _new_patient(family: str) -> dict[str, str]:
    return {"given_name": "Held", "family_name": family, "birth_date": "1980-02-03"}


def _promote_later(node: PostgresCluster, dbname: str) -> threading.Thread:
    def run() -> None:
        time.sleep(PROMOTE_AFTER_S)
        node.execute("SELECT pg_promote(true, 30)", dbname=dbname)

    thread = threading.Thread(target=run, name="promote", daemon=True)
    thread.start()
    return thread


def _patients(node: PostgresCluster, dbname: str, family: str) -> int:
    return int(
        node.scalar(
            "SELECT count(*) FROM patients WHERE family_name = %s", (family,), dbname=dbname
        )
    )


def _timed_post(
    c: TestClient, body: dict[str, str], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = c.post("/api/v1/patients", json=body, headers=headers)
    return r, time.monotonic() - started


def test_a_held_write_succeeds_once_the_standby_is_promoted(
    pg_cluster: PostgresCluster,
    seeded_db: str,
    owner: dict[str, str],
    standby: PostgresCluster,
    tmp_path: Path,
) -> None:
    _announce(pg_cluster, standby, seeded_db, hold_s=10)
    with _standby_app(standby, seeded_db, tmp_path) as c:
        assert c.get("/readyz").json()["read_only"] is True
        promoter = _promote_later(standby, seeded_db)
        r, seconds = _timed_post(c, _new_patient("Switchover"), owner)
        promoter.join(timeout=30)
        assert r.status_code == 201, r.text
        # About the promotion's delay: held, not refused, and released at once.
        assert PROMOTE_AFTER_S <= seconds < PROMOTE_AFTER_S + 3.0, seconds
        assert _patients(standby, seeded_db, "Switchover") == 1
        # The region now knows it is the primary: the next write is not held.
        r, seconds = _timed_post(c, _new_patient("After"), owner)
        assert r.status_code == 201 and seconds < 1.0
        metrics = c.get("/metrics").text
        assert 'chartguard_writes_held_total{outcome="released",region="west"} 1.0' in metrics
        assert 'chartguard_write_hold_seconds_count{region="west"} 1.0' in metrics
        assert "Switchover" not in metrics  # no PHI in metrics


def test_a_held_keyed_write_stores_its_key_and_replays(
    pg_cluster: PostgresCluster,
    seeded_db: str,
    owner: dict[str, str],
    standby: PostgresCluster,
    tmp_path: Path,
) -> None:
    _announce(pg_cluster, standby, seeded_db, hold_s=10)
    headers = {**owner, KEY: "held-write-1"}
    with _standby_app(standby, seeded_db, tmp_path) as c:
        promoter = _promote_later(standby, seeded_db)
        first, seconds = _timed_post(c, _new_patient("Keyed"), headers)
        promoter.join(timeout=30)
        assert first.status_code == 201, first.text
        assert seconds >= PROMOTE_AFTER_S
        again = c.post("/api/v1/patients", json=_new_patient("Keyed"), headers=headers)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content
    assert _patients(standby, seeded_db, "Keyed") == 1
    stored = standby.scalar(
        "SELECT count(*) FROM idempotency_keys WHERE key = 'held-write-1'", dbname=seeded_db
    )
    assert stored == 1


def test_without_a_live_announcement_writes_are_refused_at_once_and_a_hold_expires(
    pg_cluster: PostgresCluster,
    seeded_db: str,
    owner: dict[str, str],
    standby: PostgresCluster,
    tmp_path: Path,
) -> None:
    with _standby_app(standby, seeded_db, tmp_path, write_hold_max_seconds=2.0) as c:
        # No announcement: a real outage, refused as before, without waiting.
        r, seconds = _timed_post(c, _new_patient("NoRow"), owner)
        assert r.status_code == 503 and r.json()["error"] == "read_only", r.text
        assert r.headers["retry-after"]
        assert seconds < 1.0, seconds

        # An announcement whose hold has passed changes nothing either.
        _announce(pg_cluster, standby, seeded_db, hold_s=0.2)
        time.sleep(0.3)
        r, seconds = _timed_post(c, _new_patient("Expired"), owner)
        assert r.status_code == 503 and r.json()["error"] == "read_only"
        assert seconds < 1.0, seconds

        # A live hold without a promotion: refused once hold_until has passed.
        _announce(pg_cluster, standby, seeded_db, hold_s=1.2)
        r, seconds = _timed_post(c, _new_patient("Expires"), owner)
        assert r.status_code == 503 and r.json()["error"] == "read_only"
        assert 0.6 < seconds < 3.0, seconds

        # The setting caps a long announced hold (2 s here, whatever the row says).
        _announce(pg_cluster, standby, seeded_db, hold_s=60)
        r, seconds = _timed_post(c, _new_patient("Capped"), owner)
        assert r.status_code == 503 and r.json()["error"] == "read_only"
        assert 1.8 < seconds < 4.0, seconds
        metrics = c.get("/metrics").text
        assert 'chartguard_writes_held_total{outcome="expired",region="west"} 2.0' in metrics
    for family in ("NoRow", "Expired", "Expires", "Capped"):
        assert _patients(pg_cluster, seeded_db, family) == 0
