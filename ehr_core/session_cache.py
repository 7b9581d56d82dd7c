"""A per-worker cache of sign-in sessions, and how a cached one is checked.

Looking a bearer token up costs a database round trip, and on the request path a hop to
the thread pool before the route even starts (FastAPI runs a synchronous dependency in
its own hop). Read routes (:data:`~ehr_core.api.deps.ReadTrail`) take the caller from
this cache instead and prove the session still holds in the very statement
that appends their audit entry (``chartguard_audit_append_for_session``, migration 0007).
So a logout, a password change, a disable or an expiry is refused by every worker, in
every region, on its first request after the change, with no invalidation message to
lose: the check is the database's, made on every request.

Outcomes of a check (:class:`SessionCheck`): the session holds; it has ended (401, and
the entry is dropped); the role changed (the request is served again with a fresh
lookup, see :mod:`ehr_core.api.session_guard`). A request that ends without an audit
entry (an error, a route that does not audit) is checked by the guard before its answer
leaves, with :func:`check_session`.

Only PostgreSQL runs the check in the audit statement; on SQLite nothing is cached.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from collections import OrderedDict

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from ehr_core.models import AuthSession, User, utcnow

#: SQLSTATEs raised by ``chartguard_audit_append_for_session``.
SQLSTATE_ENDED = "CGS01"
SQLSTATE_ROLE_CHANGED = "CGS02"


class SessionCheck(enum.Enum):
    """What a check of a cached session found."""

    valid = "valid"
    ended = "ended"
    role_changed = "role_changed"


class SessionChanged(Exception):  # noqa: N818 (a signal, not an error for the client)
    """The account's role changed since the session was cached: serve the request again
    with a fresh lookup. Never reaches a client (the session guard catches it)."""


@dataclasses.dataclass(frozen=True, slots=True)
class CachedSession:
    """What a request needs of a sign-in session (never the token itself)."""

    session_id: int
    user_id: int
    practice_id: int
    role: str
    expires_at: float  # time.time()
    cached_at: float  # time.monotonic()


class SessionCache:
    """Token digest -> :class:`CachedSession`, at most ``max_entries``, each kept at most
    ``ttl_seconds``; thread-safe. A zero TTL turns the cache off."""

    def __init__(self, *, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedSession] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def get(self, digest: str) -> CachedSession | None:
        """The cached session, unless absent, older than the TTL or past its expiry."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if (
            time.monotonic() - entry.cached_at >= self.ttl_seconds
            or time.time() >= entry.expires_at
        ):
            self.drop(digest)
            return None
        return entry

    def put(self, digest: str, entry: CachedSession) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def drop(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def drop_session(self, session_id: int) -> None:
        """Forget every entry of one session (its token digest is not at hand)."""
        with self._lock:
            for digest in [d for d, e in self._entries.items() if e.session_id == session_id]:
                del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)


_CHECK = (
    select(User.role, User.disabled, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.id == bindparam("session_id"), User.id == bindparam("user_id"))
)


def check_session(
    db: Session | Connection, *, session_id: int, user_id: int, role: str
) -> SessionCheck:
    """Check a cached session with a query of its own (the guard's fallback when no
    audit entry checked it)."""
    row = db.execute(_CHECK, {"session_id": session_id, "user_id": user_id}).first()
    if row is None or row.disabled or row.expires_at <= utcnow():
        return SessionCheck.ended
    return SessionCheck.valid if row.role == role else SessionCheck.role_changed


__all__ = [
    "SQLSTATE_ENDED",
    "SQLSTATE_ROLE_CHANGED",
    "CachedSession",
    "SessionCache",
    "SessionChanged",
    "SessionCheck",
    "check_session",
]
