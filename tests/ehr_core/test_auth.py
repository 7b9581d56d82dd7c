"""Login, logout, expiry, disabled accounts, and the owner lock-out scenario."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from ehr_core.db import Database
from ehr_core.models import AuthSession
from tests.ehr_core.conftest import PASSWORD, World, login

PATIENTS = "/api/v1/patients"


def test_login_returns_token_and_user(world: World) -> None:
    r = world.client.post(
        "/api/v1/auth/login", json={"email": "OWNER@practice-0000.test", "password": PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {
        "id": world.a.owner_id,
        "role": "owner",
        "practice_id": world.a.practice_id,
    }
    assert len(body["token"]) >= 40
    assert dt.datetime.fromisoformat(body["expires_at"]) > dt.datetime.now(dt.UTC)


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    c = world.client
    wrong = c.post(
        "/api/v1/auth/login", json={"email": "owner@practice-0000.test", "password": "nope"}
    )
    unknown = c.post("/api/v1/auth/login", json={"email": "who@nowhere.test", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_logout_ends_the_session(world: World) -> None:
    c = world.client
    headers = login(c, "clinician1@practice-0000.test")
    assert c.get(PATIENTS, headers=headers).status_code == 200
    assert c.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert c.get(PATIENTS, headers=headers).status_code == 401


def test_expired_session_is_refused(world: World) -> None:
    c = world.client
    headers = login(c, "staff2@practice-0000.test")
    db = Database(world.settings)
    try:
        with db.transaction() as session:
            session.execute(
                update(AuthSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))
            )
    finally:
        db.dispose()
    assert c.get(PATIENTS, headers=headers).status_code == 401


def test_tokens_are_stored_hashed(world: World) -> None:
    token = world.a.owner["Authorization"].split()[1]
    db = Database(world.settings)
    try:
        with db.session() as session:
            hashes = [s.token_hash for s in session.query(AuthSession).all()]
    finally:
        db.dispose()
    assert token not in hashes and all(len(h) == 64 for h in hashes)


def test_owner_manages_staff_accounts(world: World) -> None:
    c, a = world.client, world.a
    r = c.post(
        "/api/v1/users",
        headers=a.owner,
        json={
            "email": "new.staff@practice-0000.test",
            "display_name": "New Staff",
            "role": "staff",
            "password": "first-password-123",
        },
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    new_staff = login(c, "new.staff@practice-0000.test", "first-password-123")
    # Owner resets the password: old sessions end, the new password works.
    r = c.post(
        f"/api/v1/users/{uid}/password",
        headers=a.owner,
        json={"new_password": "second-password-456"},
    )
    assert r.status_code == 204
    assert c.get(PATIENTS, headers=new_staff).status_code == 401
    new_staff = login(c, "new.staff@practice-0000.test", "second-password-456")
    # Owner disables the account: its session ends and it cannot log in.
    r = c.patch(f"/api/v1/users/{uid}", headers=a.owner, json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert c.get(PATIENTS, headers=new_staff).status_code == 401
    r = c.post(
        "/api/v1/auth/login",
        json={"email": "new.staff@practice-0000.test", "password": "second-password-456"},
    )
    assert r.status_code == 401


def test_staff_cannot_lock_the_owner_out(world: World) -> None:
    """The scenario that once cost a practice its records: an office manager changing the
    shared password. Here no staff account can touch the owner's credentials."""
    c, a = world.client, world.a
    for headers in (a.staff, a.clinician):
        assert (
            c.patch(
                f"/api/v1/users/{a.owner_id}", headers=headers, json={"disabled": True}
            ).status_code
            == 403
        )
        assert (
            c.post(
                f"/api/v1/users/{a.owner_id}/password",
                headers=headers,
                json={"new_password": "hijacked-password"},
            ).status_code
            == 403
        )
        assert (
            c.post(
                "/api/v1/users",
                headers=headers,
                json={
                    "email": "evil@practice-0000.test",
                    "display_name": "Evil",
                    "role": "clinician",
                    "password": "long-enough-password",
                },
            ).status_code
            == 403
        )
    # Even through the owner's own user management, the owner account cannot be disabled,
    # demoted or reset (so a stolen owner session cannot lock the owner out silently).
    assert (
        c.patch(f"/api/v1/users/{a.owner_id}", headers=a.owner, json={"disabled": True}).status_code
        == 403
    )
    assert (
        c.patch(f"/api/v1/users/{a.owner_id}", headers=a.owner, json={"role": "staff"}).status_code
        == 403
    )
    # The owner still logs in with the original password and sees everything.
    owner = login(c, "owner@practice-0000.test")
    assert c.get("/api/v1/audit", headers=owner).status_code == 200


def test_recovery_codes_are_one_time(world: World) -> None:
    c, a = world.client, world.a
    codes = c.post("/api/v1/auth/recovery-codes", headers=a.owner).json()["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    body = {
        "email": "owner@practice-0000.test",
        "code": codes[0],
        "new_password": "recovered-password-1",
    }
    r = c.post("/api/v1/auth/recover", json=body)
    assert r.status_code == 200 and r.json()["user"]["role"] == "owner"
    # The old owner session ended; the new password works; the code is spent.
    assert c.get(PATIENTS, headers=a.owner).status_code == 401
    login(c, "owner@practice-0000.test", "recovered-password-1")
    assert (
        c.post("/api/v1/auth/recover", json={**body, "new_password": "x" * 20}).status_code == 401
    )
    # Codes are for the owner only.
    r = c.post(
        "/api/v1/auth/recover",
        json={"email": "staff1@practice-0000.test", "code": codes[1], "new_password": "y" * 20},
    )
    assert r.status_code == 401


def test_change_own_password_needs_the_current_one(world: World) -> None:
    c = world.client
    headers = login(c, "clinician1@practice-0000.test")
    r = c.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "wrong", "new_password": "brand-new-password"},
    )
    assert r.status_code == 401
    login(c, "clinician1@practice-0000.test")  # unchanged
    r = c.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "brand-new-password"},
    )
    assert r.status_code == 204
    login(c, "clinician1@practice-0000.test", "brand-new-password")


def test_login_and_recovery_are_audited_as_the_user_with_the_client_address(world: World) -> None:
    c, a = world.client, world.a
    login(c, "owner@practice-0000.test")
    codes = c.post("/api/v1/auth/recovery-codes", headers=a.owner).json()["codes"]
    recovered = c.post(
        "/api/v1/auth/recover",
        json={"email": "owner@practice-0000.test", "code": codes[0], "new_password": "z" * 20},
    )
    assert recovered.status_code == 200
    token = recovered.json()["token"]
    audit = c.get("/api/v1/audit?page_size=500", headers={"Authorization": f"Bearer {token}"})
    entries = {e["action"]: e for e in reversed(audit.json()["items"])}  # the latest of each
    for action in ("auth.login", "auth.recovered"):
        entry = entries[action]
        assert (entry["user_id"], entry["resource_type"]) == (a.owner_id, "user")
        assert entry["resource_id"] == str(a.owner_id)
        assert entry["remote_addr"] == "testclient"  # Starlette's TestClient address
        assert entry["patient_id"] is None
