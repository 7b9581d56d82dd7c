"""Users, login sessions and recovery codes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from ehr_core.errors import Conflict, Forbidden, NotFound
from ehr_core.models import AuthSession, Practice, RecoveryCode, Role, User, utcnow
from ehr_core.security import (
    hash_password,
    new_recovery_codes,
    new_token,
    normalise_recovery_code,
    token_digest,
)


def find_by_email(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == email.lower())).scalar_one_or_none()


def start_session(session: Session, user_id: int, ttl_seconds: int) -> tuple[str, dt.datetime]:
    """Create a login session; returns the bearer token (shown once) and its expiry."""
    token = new_token()
    expires_at = utcnow() + dt.timedelta(seconds=ttl_seconds)
    session.execute(
        insert(AuthSession).values(
            user_id=user_id, token_hash=token_digest(token), expires_at=expires_at
        )
    )
    # Opportunistic clean-up keeps the sessions table small without a scheduler.
    session.execute(
        delete(AuthSession).where(AuthSession.user_id == user_id, AuthSession.expires_at < utcnow())
    )
    return token, expires_at


def end_session(session: Session, session_id: int) -> None:
    session.execute(delete(AuthSession).where(AuthSession.id == session_id))


def end_all_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))


def list_users(session: Session, practice_id: int) -> list[User]:
    return list(
        session.execute(
            select(User).where(User.practice_id == practice_id).order_by(User.id)
        ).scalars()
    )


def get_user(session: Session, practice_id: int, user_id: int) -> User:
    user = session.execute(
        select(User).where(User.id == user_id, User.practice_id == practice_id)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound("user")
    return user


def create_user(
    session: Session,
    *,
    practice_id: int,
    email: str,
    display_name: str,
    role: str,
    password: str | None = None,
    password_hash: str | None = None,
) -> User:
    if find_by_email(session, email) is not None:
        raise Conflict("a user with this e-mail already exists")
    user = User(
        practice_id=practice_id,
        email=email.lower(),
        display_name=display_name,
        role=role,
        password_hash=password_hash or hash_password(password or ""),
        disabled=False,
    )
    session.add(user)
    session.flush()
    return user


def _guard_owner(target: User) -> None:
    # The owner's account is changed only by the owner, through /auth/password or a
    # recovery code: nobody can disable, demote or reset it through user management.
    if target.role == Role.owner:
        raise Forbidden("the owner's account cannot be changed through user management")


def update_user(
    session: Session,
    practice_id: int,
    user_id: int,
    *,
    display_name: str | None = None,
    role: str | None = None,
    disabled: bool | None = None,
) -> User:
    target = get_user(session, practice_id, user_id)
    if role is not None or disabled is not None:
        _guard_owner(target)
    if display_name is not None:
        target.display_name = display_name
    if role is not None:
        target.role = role
    if disabled is not None:
        target.disabled = disabled
        if disabled:
            end_all_sessions(session, target.id)
    return target


def reset_password(session: Session, practice_id: int, user_id: int, password_hash: str) -> User:
    """Give a staff account a new password (already hashed, see ehr_core/passwords.py)."""
    target = get_user(session, practice_id, user_id)
    _guard_owner(target)
    set_password(session, target, password_hash)
    return target


def set_password(session: Session, user: User, password_hash: str) -> None:
    """Change a password (already hashed) and end every session of that user."""
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    end_all_sessions(session, user.id)


def replace_recovery_codes(session: Session, user_id: int) -> list[str]:
    """Issue a fresh set of one-time codes; the previous set stops working."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = new_recovery_codes()
    session.execute(
        insert(RecoveryCode),
        [
            {"user_id": user_id, "code_hash": token_digest(normalise_recovery_code(c))}
            for c in codes
        ],
    )
    return codes


def consume_recovery_code(session: Session, user_id: int, code: str) -> bool:
    """Spend one unused code of ``user_id``; False when it is wrong or already used."""
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == token_digest(normalise_recovery_code(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def practice_ids(session: Session) -> list[int]:
    return list(session.execute(select(Practice.id).order_by(Practice.id)).scalars())


def count_users(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(User)).scalar_one())
