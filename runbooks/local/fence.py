"""Fencing: make a primary refuse writes before another server is promoted.

``default_transaction_read_only`` is set with ``ALTER SYSTEM`` (so it survives a
restart) and reloaded, then every application session is terminated, so no
transaction that began before the fence can still commit. The EHR sees the
read-only setting on its next probe and answers writes with ``503 read_only``.
When the server cannot be reached, the only safe fence left is to stop it.
"""

from __future__ import annotations

import psycopg

from infra.local.postgres import PostgresSpec, connect
from runbooks.errors import RunbookError
from runbooks.local.server import stop_postmaster

__all__ = ["FenceError", "fence", "unfence", "is_fenced"]


class FenceError(RunbookError):
    """The old primary could be neither fenced nor stopped: promoting would risk two primaries."""


def fence(spec: PostgresSpec, *, stop_if_unreachable: bool = True) -> str:
    """Fence ``spec``'s server; return how (``read_only`` or ``stopped`` or ``down``)."""
    try:
        with connect(spec, connect_timeout=2) as conn:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = %s AND pid <> pg_backend_pid()",
                (spec.app_user,),
            )
        return "read_only"
    except psycopg.Error as e:
        if not stop_if_unreachable:
            raise FenceError(f"cannot fence database {spec.name!r}: {type(e).__name__}") from e
    try:
        return "stopped" if stop_postmaster(spec, immediate=True) else "down"
    except OSError as e:
        raise FenceError(f"database {spec.name!r} is unreachable and cannot be stopped: {e}") from e


def unfence(spec: PostgresSpec) -> None:
    """Undo :func:`fence` on a running server (rollback before the standby was promoted)."""
    try:
        with connect(spec, connect_timeout=2) as conn:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as e:
        raise RunbookError(f"cannot unfence database {spec.name!r}: {type(e).__name__}") from e


def is_fenced(spec: PostgresSpec) -> bool:
    """True when a new session on ``spec`` starts read-only (or the server is in recovery)."""
    with connect(spec, connect_timeout=2) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only') = 'on'"
        ).fetchone()
    return bool(row and row[0])
