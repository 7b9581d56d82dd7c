"""Promotion of a hot standby and the commit settings of a (new) primary.

``pg_promote(wait => true)`` returns once the server accepts writes. The commit
settings are written with ``ALTER SYSTEM`` (``postgresql.auto.conf`` is read after
the stack's own ``chartguard.conf``, so they win and survive restarts): a new primary
commits locally until its old peer is rebuilt as a standby, then, in ``sync`` mode,
waits for that standby again (``remote_apply``), which restores RPO 0.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from infra.local.postgres import PostgresSpec, connect
from runbooks.errors import RunbookError

__all__ = ["promote", "set_sync_standbys", "commit_settings"]


def promote(spec: PostgresSpec, *, timeout: float = 30.0) -> None:
    """Promote ``spec``'s standby and wait until it is a writable primary.

    Clears any fence it may carry (a standby cloned from a fenced primary) and starts
    with local commits: the standbys it should wait for do not stream from it yet.
    """
    try:
        with connect(spec, connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row and row[0]:
                done = conn.execute("SELECT pg_promote(true, %s)",
                                    (max(1, int(timeout)),)).fetchone()
                if not (done and done[0]):
                    raise RunbookError(
                        f"database {spec.name!r} did not finish promotion within {timeout:.0f}s")
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as e:
        raise RunbookError(f"promoting database {spec.name!r} failed: {type(e).__name__}: "
                           f"{str(e).strip()}") from e


def set_sync_standbys(spec: PostgresSpec, standbys: tuple[str, ...], *, mode: str) -> None:
    """Make ``spec`` wait for ``standbys`` on commit (``mode == "sync"``) or commit locally.

    Two or more standbys make a quorum (``ANY 1``), as the stack's own config does.
    """
    names = commit_settings(standbys, mode=mode)
    try:
        with connect(spec, connect_timeout=2) as conn:
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
                sql.Literal(names)))
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_commit = {}").format(
                sql.SQL("remote_apply" if names else "on")))
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as e:
        raise RunbookError(f"setting commit mode on {spec.name!r} failed: "
                           f"{type(e).__name__}") from e


def commit_settings(standbys: tuple[str, ...], *, mode: str) -> str:
    """The ``synchronous_standby_names`` value for ``standbys`` in ``mode``."""
    if mode not in ("sync", "async"):
        raise RunbookError(f"replication mode must be 'sync' or 'async', not {mode!r}")
    if mode == "async" or not standbys:
        return ""
    quoted = ", ".join(f'"{name}"' for name in standbys)
    return quoted if len(standbys) == 1 else f"ANY 1 ({quoted})"
