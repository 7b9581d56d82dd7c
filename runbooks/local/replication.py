"""Replication checks between a primary and its standbys: streaming state, LSNs, lag.

Positions are compared as byte offsets (``lsn - '0/0'``), so "the standby has replayed
everything" is an exact equality, not a guess from a lag in seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from infra.local.postgres import PostgresSpec, connect
from runbooks.errors import PrecheckFailed, RunbookError

__all__ = [
    "ReplicationState",
    "current_lsn",
    "replay_lsn",
    "replication_state",
    "wait_replayed",
]


@dataclass(frozen=True)
class ReplicationState:
    """What the primary reports about one standby (``pg_stat_replication``)."""

    standby: str
    streaming: bool
    sync_state: str | None
    primary_lsn: int
    replay_lsn: int | None
    replay_lag_s: float | None

    @property
    def lag_bytes(self) -> int | None:
        return None if self.replay_lsn is None else max(0, self.primary_lsn - self.replay_lsn)


def _one(spec: PostgresSpec, query: str, *, timeout: float = 3.0) -> tuple[object, ...] | None:
    try:
        with connect(spec, connect_timeout=max(1, int(timeout))) as conn:
            return conn.execute(query).fetchone()
    except psycopg.Error as e:
        raise RunbookError(f"database {spec.name!r} at {spec.host}:{spec.port}: "
                           f"{type(e).__name__}: {str(e).strip()}") from e


def current_lsn(spec: PostgresSpec) -> int:
    """The primary's current WAL position in bytes."""
    row = _one(spec, "SELECT (pg_current_wal_lsn() - '0/0')::bigint")
    assert row is not None
    return int(str(row[0]))


def replay_lsn(spec: PostgresSpec) -> int | None:
    """How far the standby has replayed, in bytes (None if it replayed nothing yet)."""
    row = _one(spec, "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint")
    return None if row is None or row[0] is None else int(str(row[0]))


def replication_state(primary: PostgresSpec, standby: str) -> ReplicationState:
    """The primary's view of ``standby`` (its ``application_name``, the region name)."""
    row = _one(
        primary,
        "SELECT (pg_current_wal_lsn() - '0/0')::bigint, r.state, r.sync_state, "
        "(r.replay_lsn - '0/0')::bigint, extract(epoch FROM r.replay_lag) "
        "FROM (SELECT 1) AS one LEFT JOIN pg_stat_replication r "
        f"ON r.application_name = '{_ident(standby)}'",
    )
    assert row is not None
    primary_lsn, state, sync_state, replayed, lag = row
    return ReplicationState(
        standby=standby,
        streaming=state == "streaming",
        sync_state=None if sync_state is None else str(sync_state),
        primary_lsn=int(str(primary_lsn)),
        replay_lsn=None if replayed is None else int(str(replayed)),
        # NULL replay_lag means the standby has caught up and nothing new was written.
        replay_lag_s=0.0 if state == "streaming" and lag is None else (
            None if lag is None else float(str(lag))),
    )


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.islower():
        raise PrecheckFailed(f"standby name {name!r} is not a lowercase identifier")
    return name


def wait_replayed(primary: PostgresSpec, standby: PostgresSpec, *, timeout: float,
                  interval: float = 0.05) -> int:
    """Wait until ``standby`` has replayed the primary's current WAL position; return it.

    Call it once the primary takes no more writes (fenced): then equality means the
    standby holds every committed transaction. Raises :class:`RunbookError` on timeout.
    """
    target = current_lsn(primary)
    deadline = time.monotonic() + timeout
    while True:
        replayed = replay_lsn(standby)
        if replayed is not None and replayed >= target:
            return target
        if time.monotonic() >= deadline:
            behind = "nothing" if replayed is None else f"{target - replayed} bytes behind"
            raise RunbookError(
                f"standby {standby.name!r} did not replay the primary's WAL within "
                f"{timeout:.0f}s ({behind})")
        time.sleep(interval)
