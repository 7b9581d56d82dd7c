"""Announce a planned switchover on the old primary, and clear it on the new one.

A row in ``switchover`` (migration 0006) tells the target region's EHR that writes it
sees refused as read-only until ``hold_until`` are a switchover in progress, not an
outage: it holds them until its database is promoted (see :mod:`.hold`). The runbook
inserts the row on the OLD PRIMARY right before it drains; with synchronous replication
(``remote_apply``) the row is on the standby when :func:`announce` returns. After the
cutover :func:`clear` deletes it on the new primary (an expired row changes nothing, so
a forgotten clear is harmless).

Times come from the database servers' clocks (``now()`` on the primary,
``clock_timestamp()`` on the standby), never from the caller's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ehr_core.errors import DatabaseError, ValidationFailed

#: Longest hold an announcement may ask for; the EHR caps it further
#: (``CHARTGUARD_WRITE_HOLD_MAX_SECONDS``).
MAX_ANNOUNCED_HOLD_SECONDS = 300.0
_REGION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_INSERT = """
INSERT INTO switchover (source_region, target_region, hold_until, created_at)
VALUES (%(source)s, %(target)s, now() + make_interval(secs => %(hold_s)s), now())
RETURNING id, hold_until
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Announcement:
    """One announced switchover: its row id and when the hold ends (database clock)."""

    id: int
    source: str
    target: str
    hold_until: dt.datetime


Target = psycopg.Connection | str


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[{"field": field, "message": message}])


def _check_region(field: str, value: str) -> None:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise _invalid(field, f"{field} must be a region name (1-64 of A-Z a-z 0-9 _ . -)")


@contextmanager
def _connection(conn_or_dsn: Target) -> Iterator[psycopg.Connection]:
    """The given connection, or one opened on the DSN (closed afterwards)."""
    if isinstance(conn_or_dsn, psycopg.Connection):
        yield conn_or_dsn
        return
    if not isinstance(conn_or_dsn, str) or not conn_or_dsn.strip():
        raise _invalid("conn_or_dsn", "give a psycopg connection or a PostgreSQL DSN")
    try:
        conn = psycopg.connect(conn_or_dsn, autocommit=True, connect_timeout=5)
    except psycopg.Error as e:  # the type only: the DSN may hold a password
        raise DatabaseError(f"cannot connect to the database ({type(e).__name__})") from e
    try:
        yield conn
    finally:
        conn.close()


def announce(conn_or_dsn: Target, *, source: str, target: str, hold_s: float) -> Announcement:
    """Record on the primary that ``source`` hands over to ``target`` now, and that
    writes refused as read-only in ``target`` may wait up to ``hold_s`` seconds for its
    promotion. Commits before returning (inside a caller's open transaction: a savepoint,
    committed with it).

    Raises :class:`~ehr_core.errors.ValidationFailed` for bad arguments (nothing is
    written) and :class:`~ehr_core.errors.DatabaseError` when the insert fails (e.g. the
    database is a standby or not migrated to 0006).
    """
    _check_region("source", source)
    _check_region("target", target)
    if source == target:
        raise _invalid("target", "target must differ from source")
    if (
        isinstance(hold_s, bool)
        or not isinstance(hold_s, int | float)
        or not math.isfinite(hold_s)
        or not 0 < hold_s <= MAX_ANNOUNCED_HOLD_SECONDS
    ):
        raise _invalid(
            "hold_s", f"hold_s must be a number of seconds in (0, {MAX_ANNOUNCED_HOLD_SECONDS:g}]"
        )
    params = {"source": source, "target": target, "hold_s": float(hold_s)}
    with _connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                row = conn.execute(_INSERT, params).fetchone()
        except psycopg.Error as e:
            raise DatabaseError(f"switchover announce failed ({type(e).__name__})") from e
    assert row is not None  # INSERT ... RETURNING always returns the row
    return Announcement(id=int(row[0]), source=source, target=target, hold_until=row[1])


def clear(conn_or_dsn: Target, *, switchover_id: int | None = None) -> int:
    """Delete the announcement ``switchover_id`` (default: every one) on the primary (the
    new one, after the cutover); returns how many rows went. Commits like
    :func:`announce`."""
    if switchover_id is not None and (
        isinstance(switchover_id, bool) or not isinstance(switchover_id, int)
    ):
        raise _invalid("switchover_id", "switchover_id must be an integer row id")
    with _connection(conn_or_dsn) as conn:
        try:
            with conn.transaction():
                if switchover_id is None:
                    cur = conn.execute("DELETE FROM switchover")
                else:
                    cur = conn.execute("DELETE FROM switchover WHERE id = %s", (switchover_id,))
        except psycopg.Error as e:
            raise DatabaseError(f"switchover clear failed ({type(e).__name__})") from e
    return max(cur.rowcount, 0)


__all__ = ["MAX_ANNOUNCED_HOLD_SECONDS", "Announcement", "announce", "clear"]
