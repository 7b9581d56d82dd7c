"""The per-worker session cache never outlives what it caches.

Two apps on one PostgreSQL database stand for two worker processes (or two regions'
EHRs on one primary): each has a cache of its own, nothing tells one what the other
did. After a logout, a disable or a password change made through one, the other refuses
the old token on its very next request, whether that request ends in its audit entry or
in an error; after a role change it serves the new role at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ehr_core import Settings, create_app
from ehr_core.api import deps
from ehr_core.db import Database
from ehr_core.models import AuthSession, utcnow
from ehr_core.security import token_digest
from tests.ehr_core.conftest import WORLD_DB, _pg_copy, login, make_settings, token_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
CHART = "/api/v1/patients/{}/chart"
MISSING = "/api/v1/patients/2147483000/chart"


@pytest.fixture
def pg_settings(pg_cluster, tmp_path: Path) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    for url in _pg_copy(pg_cluster, WORLD_DB):
        yield make_settings(url, tmp_path)


@pytest.fixture
def workers(pg_settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(pg_settings)) as one, TestClient(create_app(pg_settings)) as two:
        yield one, two


@pytest.fixture
def db(pg_settings: Settings) -> Iterator[Database]:
    database = Database(pg_settings)
    yield database
    database.dispose()


def _patient(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/patients?page_size=1", headers=headers).json()["items"][0]["id"])


def _cached(client: TestClient, headers: dict[str, str]) -> bool:
    digest = token_digest(headers["Authorization"].removeprefix("Bearer "))
    return client.app.state.sessions.get(digest) is not None  # type: ignore[attr-defined]


def _user_id(client: TestClient, owner: dict[str, str], email: str) -> int:
    listed = client.get("/api/v1/users", headers=owner).json()
    return int(next(u["id"] for u in listed if u["email"] == email))


def _warm(workers: tuple[TestClient, TestClient], headers: dict[str, str], pid: int) -> None:
    for client in workers:
        assert client.get(CHART.format(pid), headers=headers).status_code == 200
        assert _cached(client, headers)


def test_reads_take_the_caller_from_the_cache(
    workers: tuple[TestClient, TestClient], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, _ = workers
    headers = token_for(db, "clinician1@practice-0000.test")
    pid = _patient(one, headers)
    assert one.get(CHART.format(pid), headers=headers).status_code == 200
    lookups: list[str] = []
    real = deps._look_up

    def counted(conn: object, digest: str) -> object:
        lookups.append(digest)
        return real(conn, digest)  # type: ignore[arg-type]

    monkeypatch.setattr(deps, "_look_up", counted)
    for path in (CHART.format(pid), f"/api/v1/patients/{pid}/labs", "/api/v1/patients?q=a"):
        assert one.get(path, headers=headers).status_code == 200
    assert lookups == []
    # Writes always look the session up.
    one.post("/api/v1/encounters", headers=headers, json={"patient_id": pid, "note": "x"})
    assert len(lookups) == 1


@pytest.mark.parametrize("path_kind", ["audited", "error"])
def test_a_logout_is_refused_by_every_worker(
    workers: tuple[TestClient, TestClient], db: Database, path_kind: str
) -> None:
    one, two = workers
    headers = token_for(db, "clinician1@practice-0000.test")
    pid = _patient(one, headers)
    _warm(workers, headers, pid)
    assert one.post("/api/v1/auth/logout", headers=headers).status_code == 204
    path = CHART.format(pid) if path_kind == "audited" else MISSING
    r = two.get(path, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    assert not _cached(two, headers)


def test_a_disabled_account_is_refused_by_every_worker(
    workers: tuple[TestClient, TestClient], db: Database
) -> None:
    one, two = workers
    owner = token_for(db, "owner@practice-0000.test")
    staff = token_for(db, "staff1@practice-0000.test")
    pid = _patient(one, staff)
    _warm(workers, staff, pid)
    staff_id = _user_id(one, owner, "staff1@practice-0000.test")
    r = one.patch(f"/api/v1/users/{staff_id}", headers=owner, json={"disabled": True})
    assert r.status_code == 200, r.text
    assert two.get(CHART.format(pid), headers=staff).status_code == 401
    assert two.get(MISSING, headers=staff).status_code == 401


def test_a_password_change_is_refused_by_every_worker(
    workers: tuple[TestClient, TestClient], db: Database
) -> None:
    one, two = workers
    headers = login(one, "clinician1@practice-0000.test")
    pid = _patient(one, headers)
    _warm(workers, headers, pid)
    r = one.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "chartguard-seed-password", "new_password": "a brand new secret"},
    )
    assert r.status_code == 204, r.text
    assert two.get(CHART.format(pid), headers=headers).status_code == 401
    assert two.get(f"/api/v1/patients/{pid}/labs", headers=headers).status_code == 401


def test_an_expired_session_is_refused_though_cached(
    workers: tuple[TestClient, TestClient], db: Database
) -> None:
    one, two = workers
    headers = token_for(db, "staff1@practice-0000.test")
    pid = _patient(one, headers)
    _warm(workers, headers, pid)
    digest = token_digest(headers["Authorization"].removeprefix("Bearer "))
    with db.transaction() as session:
        session.execute(
            update(AuthSession).where(AuthSession.token_hash == digest).values(expires_at=utcnow())
        )
    assert two.get(CHART.format(pid), headers=headers).status_code == 401


def test_a_role_change_is_served_at_once(
    workers: tuple[TestClient, TestClient], db: Database
) -> None:
    """A clinician demoted to staff stops seeing notes on the next chart, on a worker that
    cached the clinician role (the request is served again with the new role)."""
    one, two = workers
    owner = token_for(db, "owner@practice-0000.test")
    clinician = token_for(db, "clinician1@practice-0000.test")
    pid = _patient(one, clinician)
    note = one.post(
        "/api/v1/encounters", headers=clinician, json={"patient_id": pid, "note": "seen today"}
    )
    assert note.status_code == 201, note.text
    _warm(workers, clinician, pid)
    chart = two.get(CHART.format(pid), headers=clinician).json()
    assert "seen today" in [e["note"] for e in chart["recent_encounters"]]
    clinician_id = _user_id(one, owner, "clinician1@practice-0000.test")
    r = one.patch(f"/api/v1/users/{clinician_id}", headers=owner, json={"role": "staff"})
    assert r.status_code == 200, r.text
    chart = two.get(CHART.format(pid), headers=clinician)
    assert chart.status_code == 200, chart.text
    assert all(e["note"] is None for e in chart.json()["recent_encounters"])
    # An error answer is checked the same way (and the session still holds: 404).
    assert two.get(MISSING, headers=clinician).status_code == 404
    # And a write now needs the clinical role it lost.
    r = two.post("/api/v1/encounters", headers=clinician, json={"patient_id": pid, "note": "x"})
    assert r.status_code == 403
