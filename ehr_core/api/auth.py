"""``/auth``: login, logout, own password, and the owner's recovery codes."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ehr_core import audit
from ehr_core.api import API_PREFIX
from ehr_core.api.deps import (
    AuditDep,
    CurrentUser,
    OwnerUser,
    RegionReadOnly,
    SessionDep,
    WritableDep,
)
from ehr_core.api.errors import PASSWORD_WORK_RESPONSES
from ehr_core.errors import Unauthorized
from ehr_core.models import Role, User
from ehr_core.passwords import PasswordGate
from ehr_core.repo import users
from ehr_core.schemas.auth import (
    LoginRequest,
    LoginResponse,
    LoginUser,
    PasswordChange,
    RecoverRequest,
    RecoveryCodes,
)

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


def _sign_in_event(request: Request, user: User, action: str) -> audit.AuditEvent:
    return audit.AuditEvent(
        practice_id=user.practice_id,
        action=action,
        resource_type="user",
        resource_id=str(user.id),
        user_id=user.id,
        remote_addr=request.client.host if request.client else None,
    )


def _answer(
    request: Request, user: User, token: str, expires_at: dt.datetime, *, read_only: bool
) -> LoginResponse:
    return LoginResponse(
        token=token,
        expires_at=expires_at,
        user=LoginUser(id=user.id, role=user.role, practice_id=user.practice_id),
        read_only=read_only,
        region=request.app.state.settings.region,
    )


def _signed_in(session: Session, request: Request, user: User, action: str) -> LoginResponse:
    """Start a session for ``user``, audit ``action`` as that user with the client's address,
    commit both together, and answer with the new token."""
    settings = request.app.state.settings
    token, expires_at = users.start_session(session, user.id, settings.token_ttl_seconds)
    audit.append(session, _sign_in_event(request, user, action))
    session.commit()
    return _answer(request, user, token, expires_at, read_only=False)


def _signed_in_read_only(session: Session, request: Request, user: User) -> LoginResponse:
    """Sign ``user`` in on a read-only region: a read-only session outside the database
    (see :mod:`ehr_core.read_only_sessions`), audited to the spool like the reads served
    here, so ``audit-import-spool`` chains it once the region is writable."""
    session.rollback()  # nothing to write here: end the read before the file work
    state = request.app.state
    settings = state.settings
    token, expires_at = state.read_only_sessions.issue(
        user.id,
        settings.read_only_token_ttl_seconds,
        password_changed_at=user.password_changed_at,
    )
    event = _sign_in_event(request, user, "auth.login_read_only")
    audit.spool(settings.audit_spool_path, event, region=settings.region)
    return _answer(request, user, token, expires_at, read_only=True)


def _account(session: Session, email: str) -> User | None:
    """The account of ``email``, with the read ended: nothing is held while its password
    waits for its turn to be checked."""
    user = users.find_by_email(session, email)
    session.commit()
    return user


@router.post("/login", response_model=LoginResponse, responses=PASSWORD_WORK_RESPONSES)
async def login(
    body: LoginRequest, request: Request, session: SessionDep, read_only: RegionReadOnly
) -> LoginResponse:
    """Exchange e-mail and password for a bearer token. Wrong e-mail and wrong password
    answer the same 401 and take the same time.

    Password checks are bounded per worker (see `ehr_core/passwords.py`): in a flood of
    sign-ins the answer may be **429** with `Retry-After`, so that reads and health
    checks keep their time; retry after that many seconds.

    On a read-only region (its database is a standby) the password is checked against
    the replicated accounts as usual and the answer is a **read-only session**
    (`read_only: true`): reads only, at most `CHARTGUARD_READ_ONLY_TOKEN_TTL_SECONDS`
    (8 h), and it ends (401, sign in again) once the region accepts writes."""
    user = await run_in_threadpool(_account, session, body.email)
    passwords: PasswordGate = request.app.state.passwords
    valid = await passwords.check_async(user.password_hash if user else None, body.password)
    if user is None or not valid or user.disabled:
        raise Unauthorized("e-mail or password is wrong, or the account is disabled")
    if read_only:
        return await run_in_threadpool(_signed_in_read_only, session, request, user)
    return await run_in_threadpool(_signed_in, session, request, user, "auth.login")


@router.post("/logout", status_code=204, dependencies=[WritableDep])
def logout(actor: CurrentUser, session: SessionDep, trail: AuditDep) -> Response:
    users.end_session(session, actor.session_id)
    trail.write("auth.logout", "user", actor.user_id)
    return Response(status_code=204)


@router.post(
    "/password", status_code=204, dependencies=[WritableDep], responses=PASSWORD_WORK_RESPONSES
)
def change_password(
    body: PasswordChange,
    request: Request,
    actor: CurrentUser,
    session: SessionDep,
    trail: AuditDep,
) -> Response:
    """Change your own password (needs the current one); ends all your sessions."""
    passwords: PasswordGate = request.app.state.passwords
    user = users.get_user(session, actor.practice_id, actor.user_id)
    if not passwords.check(user.password_hash, body.current_password):
        raise Unauthorized("current password is wrong")
    users.set_password(session, user, passwords.hash(body.new_password))
    trail.write("auth.password_change", "user", user.id)
    return Response(status_code=204)


@router.post("/recovery-codes", response_model=RecoveryCodes, dependencies=[WritableDep])
def issue_recovery_codes(actor: OwnerUser, session: SessionDep, trail: AuditDep) -> RecoveryCodes:
    """The owner gets a fresh set of one-time recovery codes (the old set stops working)."""
    codes = users.replace_recovery_codes(session, actor.user_id)
    trail.write("auth.recovery_codes_issued", "user", actor.user_id)
    return RecoveryCodes(codes=codes)


@router.post(
    "/recover",
    response_model=LoginResponse,
    dependencies=[WritableDep],
    responses=PASSWORD_WORK_RESPONSES,
)
def recover(body: RecoverRequest, request: Request, session: SessionDep) -> LoginResponse:
    """The owner regains access with a one-time code: sets a new password, re-enables the
    account, ends every other session, and logs in."""
    user = users.find_by_email(session, body.email)
    if user is None or user.role != Role.owner:
        raise Unauthorized("recovery code or e-mail is wrong")
    if not users.consume_recovery_code(session, user.id, body.code):
        raise Unauthorized("recovery code or e-mail is wrong")
    users.set_password(session, user, request.app.state.passwords.hash(body.new_password))
    user.disabled = False
    return _signed_in(session, request, user, "auth.recovered")
