"""Data access for stored keyed-write answers (table ``idempotency_keys``).

Every lookup is by ``(user_id, key)``, the table's unique index. On PostgreSQL a
transaction-scoped advisory lock on the same pair marks a keyed request as in flight: it
is visible to other sessions at once, and it goes away by itself when the request's
transaction commits or rolls back (also when the process dies).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from ehr_core.models import IdempotencyRecord

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:lock_id)")
# Namespaces our advisory lock ids (no other lock of ours uses this prefix).
_LOCK_NAMESPACE = b"chartguard.idempotency\0"


def lock_id(user_id: int, key: str) -> int:
    """A signed 64-bit advisory lock id for one user's key."""
    digest = hashlib.sha256(_LOCK_NAMESPACE + f"{user_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_lock(session: Session, user_id: int, key: str) -> bool:
    """Take the key's in-flight lock in the session's transaction; False when another
    transaction holds it. SQLite needs none: its transactions are serialized whole
    (``BEGIN IMMEDIATE``), so a second request waits for the first to commit."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(_TRY_LOCK, {"lock_id": lock_id(user_id, key)}).scalar_one())


def find(session: Session, user_id: int, key: str) -> IdempotencyRecord | None:
    """The stored answer for this user's key (expired or not), by the unique index."""
    return session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
        )
    ).scalar_one_or_none()


def remove(session: Session, record_id: int) -> None:
    """Delete one record by id (no error when it is already gone)."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def purge_expired(session: Session, *, before: dt.datetime, limit: int) -> int:
    """Delete at most ``limit`` records created before ``before`` (oldest first, by the
    ``created_at`` index) in the caller's transaction; returns how many."""
    ids = list(
        session.execute(
            select(IdempotencyRecord.id)
            .where(IdempotencyRecord.created_at < before)
            .order_by(IdempotencyRecord.created_at)
            .limit(limit)
        ).scalars()
    )
    if ids:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
    return len(ids)


__all__ = ["find", "lock_id", "purge_expired", "remove", "try_lock"]
