"""Hold a write that reached a standby during an announced switchover.

Only on the refusal path: when the write guard finds the region's database read-only it
asks :func:`wait_until_writable` before answering 503 ``read_only``. That costs one
primary-key read of the newest ``switchover`` row; without a row whose ``hold_until`` is
still ahead (a real outage), the write is refused at once as before. With one, the
database's role is asked afresh (``pg_is_in_recovery()``) every ``poll_seconds`` until it
accepts writes (the write then proceeds: a second of latency instead of an error) or the
hold ends, capped by ``CHARTGUARD_WRITE_HOLD_MAX_SECONDS`` whatever the row says.

The wait sleeps on the event loop, so held writes do not occupy the worker's threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:  # the runbook imports this package: keep prometheus_client out of it
    from ehr_core.db import Database
    from ehr_core.metrics import Metrics
    from ehr_core.region import RegionState

#: How often a held write asks the database whether it was promoted.
POLL_SECONDS = 0.05

# The database's clock on both ends: the primary wrote hold_until with now().
_REMAINING = (
    "SELECT extract(epoch FROM hold_until - clock_timestamp()) "
    "FROM switchover ORDER BY id DESC LIMIT 1"
)

log = logging.getLogger("chartguard.ehr.switchover")


def hold_remaining(db: Database) -> float:
    """Seconds left of the newest announced hold; 0.0 without one, once it passed, on
    SQLite (no standby to promote) or when the lookup fails (then nothing is held)."""
    if db.is_sqlite:
        return 0.0
    try:
        with db.engine.connect() as conn:
            value = conn.exec_driver_sql(_REMAINING).scalar()
            conn.rollback()
    except DBAPIError as e:
        log.warning("switchover lookup failed (%s): not holding", type(e.orig).__name__)
        return 0.0
    return max(0.0, float(value)) if value is not None else 0.0


async def wait_until_writable(
    *,
    db: Database,
    region: RegionState,
    metrics: Metrics,
    max_seconds: float,
    poll_seconds: float = POLL_SECONDS,
) -> bool:
    """Wait while a switchover is announced; True once the database accepts writes,
    False at once without an announced hold, or when the hold ran out."""
    if max_seconds <= 0:
        return False
    budget = min(await run_in_threadpool(hold_remaining, db), max_seconds)
    if budget <= 0:
        return False
    started = time.monotonic()
    deadline = started + budget
    released = False
    while True:
        # A fresh probe, not the cached role; it also updates the cache, so the writes
        # after this one go through at once.
        info = await run_in_threadpool(region.probe)
        if info.reachable and not info.read_only:
            released = True
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(poll_seconds, left))
    metrics.observe_write_hold(released=released, seconds=time.monotonic() - started)
    return released


__all__ = ["POLL_SECONDS", "hold_remaining", "wait_until_writable"]
