"""Read-only sessions without a standby: the session store itself, the write guard of a
read-only caller, and login on a writable region (SQLite and PostgreSQL) unchanged."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from ehr_core import Settings, create_app
from ehr_core.api.deps import Actor, AuditTrail
from ehr_core.errors import ReadOnly, Unavailable
from ehr_core.read_only_sessions import TOKEN_PREFIX, ReadOnlySessions, is_read_only_token
from ehr_core.security import new_token, token_digest
from tests.ehr_core.conftest import PASSWORD

LOGIN = "/api/v1/auth/login"
CHANGED = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
NEW_PATIENT = {"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}


@pytest.mark.unit
def test_store_issues_finds_and_hashes_tokens(tmp_path: Path) -> None:
    path = tmp_path / "work" / "sessions.sqlite3"
    store = ReadOnlySessions(path=path, region="west")
    assert store.find(TOKEN_PREFIX + "nothing-yet") is None and not path.exists()
    token, expires = store.issue(7, ttl_seconds=3600, password_changed_at=CHANGED)
    assert is_read_only_token(token) and not is_read_only_token(new_token())
    assert dt.timedelta(minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    # A second instance (another gunicorn worker) sees the same session.
    found = ReadOnlySessions(path=path, region="west").find(token)
    assert found is not None and found.user_id == 7 and found.region == "west"
    assert found.expires_at == expires and found.password_changed_at == CHANGED.isoformat()
    # Hashed at rest, in a private file.
    assert token.encode() not in path.read_bytes()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT token_hash FROM read_only_sessions").fetchone() == (
            token_digest(token),
        )
    assert path.stat().st_mode & 0o077 == 0
    assert store.find(token + "x") is None and store.find(token[len(TOKEN_PREFIX) :]) is None


@pytest.mark.unit
def test_store_expires_and_purges_sessions(tmp_path: Path) -> None:
    store = ReadOnlySessions(path=tmp_path / "s.sqlite3", region="west")
    token, _ = store.issue(1, ttl_seconds=3600, password_changed_at=CHANGED)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE read_only_sessions SET expires_at = ?", (time.time() - 1,))
    assert store.find(token) is None and store.count() == 0
    # Issuing purges the expired row on the way.
    store.issue(2, ttl_seconds=3600, password_changed_at=CHANGED)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT user_id FROM read_only_sessions").fetchall() == [(2,)]


@pytest.mark.unit
def test_store_that_cannot_be_written_is_503_without_details(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    store = ReadOnlySessions(path=blocker / "s.sqlite3", region="west")
    with pytest.raises(Unavailable) as caught:
        store.issue(1, ttl_seconds=3600, password_changed_at=CHANGED)
    assert caught.value.status_code == 503 and str(blocker) not in caught.value.detail


@pytest.mark.unit
def test_default_store_sits_beside_the_audit_spool(tmp_path: Path) -> None:
    spool = tmp_path / "region" / "audit-spool.jsonl"
    settings = Settings(audit_spool_path=str(spool))
    assert settings.read_only_sessions_file.parent == spool.parent
    assert settings.read_only_token_ttl_seconds == 8 * 3600
    chosen = Settings(read_only_sessions_path=str(tmp_path / "x.sqlite3"))
    assert chosen.read_only_sessions_file == tmp_path / "x.sqlite3"


def test_login_on_a_writable_region_is_unchanged(settings: Settings) -> None:
    with TestClient(create_app(settings)) as c:
        r = c.post(LOGIN, json={"email": "owner@practice-0000.test", "password": PASSWORD})
        assert r.status_code == 200
        body = r.json()
        assert body["read_only"] is False and body["region"] == settings.region
        assert not body["token"].startswith(TOKEN_PREFIX)
        headers = {"Authorization": f"Bearer {body['token']}"}
        assert c.post("/api/v1/patients", headers=headers, json=NEW_PATIENT).status_code == 201
        # A read-only token reaching a writable region is refused, saying why.
        stray = {"Authorization": f"Bearer {TOKEN_PREFIX}{new_token()}"}
        refused = c.get("/api/v1/patients", headers=stray)
        assert refused.status_code == 401 and "sign in again" in refused.json()["detail"]
        schema = c.get("/api/v1/openapi.json").json()["components"]["schemas"]["LoginResponse"]
        assert {"read_only", "region"} <= set(schema["properties"])
    # A writable region never creates the read-only session store.
    assert not settings.read_only_sessions_file.exists()


@pytest.mark.unit
def test_a_read_only_caller_never_writes_even_past_the_guard(sqlite_settings: Settings) -> None:
    """Belt and braces: should a write route ever miss the write guard, the audit trail
    still refuses a read-only session's write (503 read_only) and rolls it back."""
    app = create_app(sqlite_settings)
    request = Request({"type": "http", "app": app, "headers": []})
    actor = Actor(
        user_id=1, practice_id=1, role="owner", session_id=1, remote_addr=None, read_only=True
    )
    with app.state.db.session() as session:
        trail = AuditTrail(request, session, actor)
        with pytest.raises(ReadOnly):
            trail.write("patient.create", "patient", 1)
        assert not session.in_transaction()
    app.state.db.dispose()
