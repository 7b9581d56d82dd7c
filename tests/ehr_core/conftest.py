"""Fixtures for the EHR tests.

- ``settings``: parametrized over SQLite (``unit``) and a real PostgreSQL 15
  (``integration`` + ``postgres``); each test gets its own fresh database holding the
  seeded "world" (two practices). Databases are copies of templates built once per
  session (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so a
  test pays milliseconds, not migrations and seeding.
- ``sqlite_settings`` / ``pg_url``: a fresh migrated but empty database.
- ``client``: a TestClient on an app for ``settings``; ``world``: the two practices with a
  signed-in owner, clinician and staff member each.
- ``pg_cluster``: the session's PostgreSQL server (tests/support/postgres.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings, create_app
from ehr_core.db import Database
from ehr_core.migrate import upgrade
from ehr_core.repo import users
from ehr_core.seed import seed
from tests.support.postgres import PostgresCluster

TEMPLATE_DB = "chartguard_template"
WORLD_DB = "chartguard_world"
SEED_START = dt.date(2030, 3, 4)  # a Monday; fixed so seeded schedules are deterministic
PASSWORD = "chartguard-seed-password"


def seed_world(db_url: str) -> None:
    db = Database(Settings(db_url=db_url))
    try:
        seed(db.engine, practices=2, patients=8, seed=7, password=PASSWORD, start=SEED_START)
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        cluster.create_database(TEMPLATE_DB)
        upgrade(Settings(db_url=cluster.url(TEMPLATE_DB)))
        cluster.create_database(WORLD_DB, template=TEMPLATE_DB)
        seed_world(cluster.url(WORLD_DB))
        yield cluster
    finally:
        cluster.stop()


def _pg_copy(cluster: PostgresCluster, template: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name, template=template)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh migrated, empty database on the session's PostgreSQL."""
    yield from _pg_copy(pg_cluster, TEMPLATE_DB)


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(migrated empty, migrated + seeded world) SQLite files, built once."""
    root = tmp_path_factory.mktemp("sqlite-templates")
    empty, world = root / "empty.db", root / "world.db"
    upgrade(Settings(db_url=f"sqlite:///{empty}"))
    shutil.copyfile(empty, world)
    seed_world(f"sqlite:///{world}")
    return empty, world


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "db_url": db_url,
        "region": "test-east",
        "audit_spool_path": str(tmp_path / "audit-spool.jsonl"),
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_templates: tuple[Path, Path]
) -> Iterator[Settings]:
    """A fresh database with the seeded world, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "ehr.db"
        shutil.copyfile(sqlite_templates[1], path)
        yield make_settings(f"sqlite:///{path}", tmp_path)
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    for url in _pg_copy(cluster, WORLD_DB):
        yield make_settings(url, tmp_path)


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_templates: tuple[Path, Path]) -> Settings:
    """A fresh migrated, empty SQLite database."""
    path = tmp_path / "ehr.db"
    shutil.copyfile(sqlite_templates[0], path)
    return make_settings(f"sqlite:///{path}", tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@dataclass
class PracticeUsers:
    slug: str
    practice_id: int
    owner: dict[str, str]
    clinician: dict[str, str]
    staff: dict[str, str]
    owner_id: int = 0
    staff_id: int = 0
    patient_ids: list[int] = field(default_factory=list)


@dataclass
class World:
    client: TestClient
    settings: Settings
    a: PracticeUsers
    b: PracticeUsers


def token_for(db: Database, email: str) -> dict[str, str]:
    """Headers of a fresh session for ``email``, minted directly (logins are tested on
    their own; skipping argon2 here keeps each test's set-up cheap)."""
    with db.transaction() as session:
        user = users.find_by_email(session, email)
        assert user is not None, email
        token, _ = users.start_session(session, user.id, 3600)
    return {"Authorization": f"Bearer {token}"}


def _practice(client: TestClient, db: Database, slug: str) -> PracticeUsers:
    owner = token_for(db, f"owner@{slug}.test")
    listed = client.get("/api/v1/users", headers=owner).json()
    pu = PracticeUsers(
        slug=slug,
        practice_id=listed[0]["practice_id"],
        owner=owner,
        clinician=token_for(db, f"clinician1@{slug}.test"),
        staff=token_for(db, f"staff1@{slug}.test"),
        owner_id=next(u["id"] for u in listed if u["role"] == "owner"),
        staff_id=next(u["id"] for u in listed if u["email"] == f"staff1@{slug}.test"),
    )
    page = client.get("/api/v1/patients?page_size=200", headers=owner).json()
    pu.patient_ids = [p["id"] for p in page["items"]]
    return pu


@pytest.fixture
def world(client: TestClient, settings: Settings) -> World:
    db = Database(settings)
    try:
        return World(
            client=client,
            settings=settings,
            a=_practice(client, db, "practice-0000"),
            b=_practice(client, db, "practice-0001"),
        )
    finally:
        db.dispose()
