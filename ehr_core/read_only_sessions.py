"""Read-only sign-ins: sessions a region issues while its database is a hot standby.

A standby cannot store a login session (the database refuses every write), yet a practice
whose token expired during an outage must still see its schedule and charts. So a login
on a read-only region checks the password against the replicated users table as usual
and records the session here instead: a small SQLite file in the EHR's working folder
(next to the read-audit spool), shared by every worker of the region.

These sessions are deliberately weaker than database sessions:

- their tokens carry :data:`TOKEN_PREFIX` (a character normal tokens never contain), so
  any region can tell them apart without a lookup;
- they live ``read_only_token_ttl_seconds`` (8 h by default) and authenticate reads only
  while the region is read-only. Once the region has been promoted they are refused (the
  caller signs in again): a session that never existed in the database must never gain
  write access;
- they end when the replicated account is disabled or its password changes.

Tokens are stored hashed (SHA-256, as database sessions); rows hold ids only, no PHI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ehr_core.errors import Unavailable
from ehr_core.security import new_token, token_digest

#: Starts every read-only token. ``.`` is outside ``secrets.token_urlsafe``'s alphabet,
#: so a database session's token can never look like one.
TOKEN_PREFIX = "ro."

log = logging.getLogger("chartguard.ehr.error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS read_only_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS read_only_sessions_expiry ON read_only_sessions (expires_at);
"""


def is_read_only_token(token: str) -> bool:
    """True for a token issued by :meth:`ReadOnlySessions.issue`."""
    return token.startswith(TOKEN_PREFIX)


@dataclasses.dataclass(frozen=True, slots=True)
class ReadOnlySession:
    """One live read-only sign-in."""

    id: int
    user_id: int
    region: str
    #: The account's ``password_changed_at`` when it signed in (ISO 8601, as replicated).
    password_changed_at: str
    issued_at: dt.datetime
    expires_at: dt.datetime


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class ReadOnlySessions:
    """The region's read-only sessions in the SQLite file at ``path``.

    The file (mode 0600) and its table are created on first use, so a region that never
    serves read-only never creates it. Each call opens its own short connection: gunicorn
    workers share the file through SQLite's locking (WAL), and nothing is held between
    requests.
    """

    def __init__(self, *, path: str | Path, region: str, busy_timeout_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.region = region
        self.busy_timeout_seconds = busy_timeout_seconds
        self._ready = False
        self._ready_lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self._ensure_schema()
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds)
        except (OSError, sqlite3.Error) as e:
            raise self._unavailable(e) from e
        try:
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        except sqlite3.Error as e:
            raise self._unavailable(e) from e
        finally:
            conn.close()

    def _unavailable(self, e: Exception) -> Unavailable:
        # The operator gets the file and the driver's reason (no PHI in either); the
        # client only learns that read-only sign-in failed.
        log.error("read-only session store %s failed: %s: %s", self.path, type(e).__name__, e)
        return Unavailable("read-only sign-in is unavailable: its session store failed")

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Created private before SQLite opens it (its -wal/-shm files copy the mode).
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
            self._ready = True

    def issue(
        self, user_id: int, ttl_seconds: int, *, password_changed_at: dt.datetime
    ) -> tuple[str, dt.datetime]:
        """Record a new read-only session; returns its token (shown once) and expiry.

        ``password_changed_at`` is the account's as the replicated database shows it now:
        the session ends when that changes (compared exactly, so clocks of the two
        regions never matter). Expired sessions are purged on the way, which keeps the
        file small without a scheduler."""
        token = TOKEN_PREFIX + new_token()
        now = time.time()
        expires = now + ttl_seconds
        with self._connect() as conn:
            conn.execute("DELETE FROM read_only_sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO read_only_sessions (token_hash, user_id, region,"
                " password_changed_at, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token_digest(token),
                    user_id,
                    self.region,
                    password_changed_at.isoformat(),
                    now,
                    expires,
                ),
            )
        return token, _utc(expires)

    def find(self, token: str) -> ReadOnlySession | None:
        """The live session of ``token``; None when unknown, expired or not read-only."""
        if not is_read_only_token(token) or not self.path.exists():
            return None
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, user_id, region, password_changed_at, issued_at, expires_at"
                " FROM read_only_sessions WHERE token_hash = ? AND expires_at > ?",
                (token_digest(token), time.time()),
            ).fetchone()
        if row is None:
            return None
        return ReadOnlySession(
            id=row[0],
            user_id=row[1],
            region=row[2],
            password_changed_at=row[3],
            issued_at=_utc(row[4]),
            expires_at=_utc(row[5]),
        )

    def count(self) -> int:
        """Live (unexpired) sessions."""
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM read_only_sessions WHERE expires_at > ?", (time.time(),)
            ).fetchone()
        return int(row[0])


__all__ = [
    "TOKEN_PREFIX",
    "ReadOnlySession",
    "ReadOnlySessions",
    "is_read_only_token",
]
