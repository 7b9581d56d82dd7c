"""Rebuilding a former primary as a streaming standby of the new primary.

``pg_rewind`` needs ``wal_log_hints`` or data checksums, which the local stack's
clusters do not have, so the old primary is cloned afresh with ``pg_basebackup``
(through :func:`infra.local.postgres.create`, exactly as the stack creates a standby).
Its old data dir is moved aside first, never deleted here: after an unplanned
failover in ``async`` mode it may hold the only copy of the last writes. The caller
removes it (:func:`discard_old_data`) once it knows nothing there is missing.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from infra.local import postgres
from infra.local.errors import LocalTargetError
from infra.local.postgres import PostgresSpec
from runbooks.errors import RunbookError
from runbooks.local.server import stop_postmaster

__all__ = ["RebuildResult", "rebuild_as_standby", "discard_old_data", "standby_spec"]


@dataclass(frozen=True)
class RebuildResult:
    spec: PostgresSpec
    state: postgres.PostgresState
    old_data_dir: Path | None
    seconds: float


def standby_spec(spec: PostgresSpec, *, upstream_host: str, upstream_port: int) -> PostgresSpec:
    """``spec`` as a standby streaming from ``upstream_host:upstream_port``."""
    return replace(spec, role="standby", sync_standbys=(), upstream_host=upstream_host,
                   upstream_port=upstream_port)


def rebuild_as_standby(spec: PostgresSpec, *, upstream_host: str, upstream_port: int,
                       timeout: float = 120.0) -> RebuildResult:
    """Stop ``spec``'s server, set its data aside and clone it again from the upstream.

    Returns once the new standby streams. On failure the old data dir stays where it
    was moved (named in the error) so nothing is lost.
    """
    started = time.monotonic()
    new_spec = standby_spec(spec, upstream_host=upstream_host, upstream_port=upstream_port)
    stop_postmaster(spec, timeout=30)
    aside: Path | None = None
    if spec.data_dir.exists():
        aside = spec.data_dir.with_name(f"{spec.data_dir.name}.pre-rebuild-{int(time.time())}")
        spec.data_dir.rename(aside)
    try:
        state = postgres.create(new_spec, timeout=timeout)
    except LocalTargetError as e:
        kept = f"; its previous data is kept in {aside}" if aside else ""
        raise RunbookError(f"rebuilding {spec.name!r} as a standby failed: {e}{kept}") from e
    return RebuildResult(spec=new_spec, state=state, old_data_dir=aside,
                         seconds=time.monotonic() - started)


def discard_old_data(result: RebuildResult) -> None:
    """Remove the data dir set aside by :func:`rebuild_as_standby`."""
    if result.old_data_dir is not None:
        shutil.rmtree(result.old_data_dir, ignore_errors=True)
