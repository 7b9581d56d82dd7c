"""Region awareness: is our database a primary or a standby, and how far behind?

The answer is cached for ``role_cache_seconds`` so the write guard costs nothing on the
request path; probes run with a hard client-side deadline so ``/readyz`` answers fast
even when the database (or the network to it) hangs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from ehr_core.db import Database
from ehr_core.metrics import Metrics

PRIMARY = "primary"
STANDBY = "standby"

# On a standby: whether everything received is replayed, and the age of the last
# replayed commit (an upper bound of the lag: on an idle primary it is just idle time).
_PG_PROBE = """
SELECT pg_is_in_recovery(),
       current_setting('default_transaction_read_only') = 'on',
       pg_is_in_recovery() AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())
"""
#: A standby seen behind is asked again after this long before a lag is reported: the
#: WAL an idle primary still writes (checkpoints, snapshots, autovacuum) is received a
#: moment before it is replayed, and is no lag anyone should be paged for.
RESAMPLE_SECONDS = 0.02


@dataclasses.dataclass(frozen=True, slots=True)
class RoleInfo:
    """One observation of the database's role."""

    reachable: bool
    role: str | None = None
    read_only: bool = False
    replication_lag_seconds: float | None = None
    error: str | None = None
    observed_at: float = 0.0


class RegionState:
    """Cached primary/standby role of this region's database."""

    def __init__(
        self,
        *,
        db: Database,
        region: str,
        metrics: Metrics,
        cache_seconds: float = 1.0,
        timeout_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.region = region
        self.metrics = metrics
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self._info: RoleInfo | None = None
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._inflight: Future[RoleInfo] | None = None
        # When a probe last saw this standby caught up (written by the probe thread only).
        self._caught_up_at: float | None = None
        # One thread: a hung database never piles up more than one stuck probe.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="region-probe")

    def current(self) -> RoleInfo:
        """The cached role, refreshed when older than ``cache_seconds``."""
        info = self._info
        if info is not None and time.monotonic() - info.observed_at < self.cache_seconds:
            return info
        return self.probe()

    def is_read_only(self) -> bool:
        """True when writes must be refused: a standby or a read-only database.

        An unreachable database is not "read-only": writes then fail on their own with
        503 ``database_unavailable``.
        """
        info = self.current()
        return info.reachable and info.read_only

    def known_read_only(self) -> bool | None:
        """:meth:`is_read_only` from the cache alone (no I/O, so no thread hop on the
        request path); None when the cached role is missing or stale."""
        info = self._info
        if info is None or time.monotonic() - info.observed_at >= self.cache_seconds:
            return None
        return info.reachable and info.read_only

    def mark_read_only(self) -> None:
        """Record that the database just refused a write as read-only (mid-request)."""
        self._store(
            RoleInfo(
                reachable=True,
                role=self._info.role if self._info and self._info.role else STANDBY,
                read_only=True,
                observed_at=time.monotonic(),
            )
        )

    def _probe_future(self) -> Future[RoleInfo]:
        """The probe running now, or a new one (at most one runs at a time)."""
        with self._probe_lock:
            if self._inflight is None or self._inflight.done():
                self._inflight = self._executor.submit(self._query)
            return self._inflight

    def _timed_out(self) -> RoleInfo:
        return RoleInfo(
            reachable=False,
            error=f"database did not answer within {self.timeout_seconds:g}s",
            observed_at=time.monotonic(),
        )

    def probe(self) -> RoleInfo:
        """Ask the database now, giving up after ``timeout_seconds``."""
        try:
            info = self._probe_future().result(timeout=self.timeout_seconds)
        except FutureTimeout:
            info = self._timed_out()
        self._store(info)
        return info

    async def probe_async(self) -> RoleInfo:
        """:meth:`probe` for the event loop (``/readyz``): it waits on the probe's own
        thread, never on the request thread pool, so a saturated EHR still answers its
        health check in time instead of queueing it behind the requests."""
        waiting = asyncio.wrap_future(self._probe_future())
        done, _ = await asyncio.wait({waiting}, timeout=self.timeout_seconds)
        info = waiting.result() if done else self._timed_out()
        self._store(info)
        return info

    def _query(self) -> RoleInfo:
        started = time.monotonic()
        try:
            with self.db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
                if self.db.is_sqlite:
                    conn.exec_driver_sql("SELECT 1").scalar()
                    conn.rollback()
                    return RoleInfo(reachable=True, role=PRIMARY, observed_at=started)
                row = conn.exec_driver_sql(_PG_PROBE).one()
                conn.rollback()
                if row[0] and not row[2]:
                    time.sleep(RESAMPLE_SECONDS)
                    row = conn.exec_driver_sql(_PG_PROBE).one()
                    conn.rollback()
        except Exception as e:  # any failure means "not ready"; the type says why
            return RoleInfo(
                reachable=False,
                error=f"database unreachable ({type(e).__name__})",
                observed_at=started,
            )
        in_recovery, default_ro = bool(row[0]), bool(row[1])
        return RoleInfo(
            reachable=True,
            role=STANDBY if in_recovery else PRIMARY,
            read_only=in_recovery or default_ro,
            replication_lag_seconds=self._lag(bool(row[2]), row[3]) if in_recovery else None,
            observed_at=started,
        )

    def _lag(self, caught_up: bool, replay_age: float | None) -> float | None:
        """Seconds the standby is behind: 0 when caught up; otherwise the smaller of the
        last replayed commit's age and the time since it was last seen caught up (what is
        not replayed yet was written after that)."""
        now = time.monotonic()
        if caught_up:
            self._caught_up_at = now
            return 0.0
        bounds = [float(replay_age)] if replay_age is not None else []
        if self._caught_up_at is not None:
            bounds.append(now - self._caught_up_at)
        return max(0.0, min(bounds)) if bounds else None

    def _store(self, info: RoleInfo) -> None:
        with self._lock:
            self._info = info
        self.metrics.read_only.set(1 if info.reachable and info.read_only else 0)
        self.metrics.replication_lag.set(info.replication_lag_seconds or 0.0)
        # Sampled with the role (each probe: every /readyz check, and at most every
        # cache_seconds while serving): pool events on every checkout cost the request
        # path more than the gauge is worth.
        self.metrics.pool_in_use.set(self.db.pool_in_use())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
