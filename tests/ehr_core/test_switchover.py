"""Migration 0006 and the runbook's side of a planned switchover: announce / clear."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import inspect

from ehr_core import Database, Settings
from ehr_core.errors import DatabaseError, ValidationFailed
from ehr_core.migrate import alembic_config, upgrade
from ehr_core.switchover import announce, clear, hold_remaining
from tests.ehr_core.conftest import TEMPLATE_DB
from tests.support.postgres import PostgresCluster


def _has_table(settings: Settings) -> bool:
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            return inspect(conn).has_table("switchover")
    finally:
        db.dispose()


def test_migration_0006_downgrades_and_upgrades(settings: Settings) -> None:
    assert _has_table(settings)
    command.downgrade(alembic_config(settings), "0005")
    assert not _has_table(settings)
    upgrade(settings)
    assert _has_table(settings)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "east", "target": "east", "hold_s": 5}, "target"),
        ({"source": "", "target": "west", "hold_s": 5}, "source"),
        ({"source": "east", "target": "we st", "hold_s": 5}, "target"),
        ({"source": "east", "target": "west", "hold_s": 0}, "hold_s"),
        ({"source": "east", "target": "west", "hold_s": float("nan")}, "hold_s"),
        ({"source": "east", "target": "west", "hold_s": 301}, "hold_s"),
        ({"source": "east", "target": "west", "hold_s": True}, "hold_s"),
    ],
)
def test_announce_rejects_bad_arguments_before_connecting(
    kwargs: dict[str, object], field: str
) -> None:
    # An unreachable DSN: a bad argument must be named before any connection attempt.
    with pytest.raises(ValidationFailed) as info:
        announce("postgresql://nobody@127.0.0.1:9/none", **kwargs)  # type: ignore[arg-type]
    assert info.value.fields[0]["field"] == field


@pytest.mark.unit
def test_announce_names_an_unreachable_database_without_its_dsn() -> None:
    dsn = "postgresql://someone:s3cret-pw@127.0.0.1:9/none"
    with pytest.raises(DatabaseError) as info:
        announce(dsn, source="east", target="west", hold_s=3)
    assert "s3cret-pw" not in str(info.value) and "cannot connect" in str(info.value)


@pytest.fixture
def pg_db(pg_cluster: PostgresCluster) -> Iterator[str]:
    name = f"sw_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name, template=TEMPLATE_DB)
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


@pytest.mark.integration
@pytest.mark.postgres
def test_announce_replicates_to_the_standby_and_clear_removes_it(
    pg_cluster: PostgresCluster, pg_db: str
) -> None:
    with pg_cluster.start_standby() as standby:
        # A DSN, as the runbook may pass app_dsn(spec).
        first = announce(pg_cluster.url(pg_db), source="east", target="west", hold_s=2)
        # An open connection, as from infra.local.postgres.connect(spec, dbname=...).
        with pg_cluster.connect(pg_db) as conn:
            second = announce(conn, source="east", target="west", hold_s=30)
        assert second.id > first.id
        assert second.hold_until - first.hold_until > dt.timedelta(seconds=27)
        standby.wait_caught_up(pg_cluster)
        standby_db = Database(Settings(db_url=standby.url(pg_db)))
        try:
            # The newest announcement counts, read with the standby's clock.
            assert 27 < hold_remaining(standby_db) <= 30
            with standby.connect(pg_db) as conn:
                rows = conn.execute(
                    "SELECT source_region, target_region FROM switchover ORDER BY id"
                ).fetchall()
            assert rows == [("east", "west"), ("east", "west")]
            # Clearing on the standby is refused (read-only), named, and changes nothing.
            with pytest.raises(DatabaseError, match="clear failed"):
                clear(standby.url(pg_db))
            assert clear(pg_cluster.url(pg_db), switchover_id=first.id) == 1
            assert clear(pg_cluster.url(pg_db)) == 1
            standby.wait_caught_up(pg_cluster)
            assert hold_remaining(standby_db) == 0.0
        finally:
            standby_db.dispose()


@pytest.mark.integration
@pytest.mark.postgres
def test_an_expired_announcement_holds_nothing(pg_cluster: PostgresCluster, pg_db: str) -> None:
    announce(pg_cluster.url(pg_db), source="east", target="west", hold_s=5)
    pg_cluster.execute(
        "UPDATE switchover SET hold_until = now() - interval '1 second'", dbname=pg_db
    )
    db = Database(Settings(db_url=pg_cluster.url(pg_db)))
    try:
        assert hold_remaining(db) == 0.0
    finally:
        db.dispose()


@pytest.mark.unit
def test_sqlite_never_holds(sqlite_settings: Settings) -> None:
    db = Database(sqlite_settings)
    try:
        assert hold_remaining(db) == 0.0
    finally:
        db.dispose()


@pytest.mark.integration
@pytest.mark.postgres
def test_announce_on_an_unmigrated_database_is_a_named_error(
    pg_cluster: PostgresCluster,
) -> None:
    with pytest.raises(DatabaseError, match="announce failed"):
        announce(pg_cluster.url("postgres"), source="east", target="west", hold_s=3)
    with psycopg.connect(pg_cluster.url("postgres"), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('switchover')").fetchone() == (None,)
