"""``ReadTrail``: everything a route that only reads needs, made cheap.

The hot read routes (schedule, chart, patient, search, labs and the other chart lists)
take one dependency, :data:`ReadTrail`, and end with ``trail.read(...)``. What it saves,
measured on the practice-day mix (``python -m bench ehr``):

- No SQLAlchemy :class:`~sqlalchemy.orm.Session`: a read runs on a pooled connection
  (:meth:`~ehr_core.db.Database.read_connection`), opened on first use in the route's
  thread, in autocommit on PostgreSQL (no BEGIN/COMMIT round trips).
- No thread hop besides the route's own: the dependency is async and, for a caller in
  the per-worker session cache, does no I/O (FastAPI runs each synchronous dependency in
  a thread pool hop of its own; a hop costs about 0.2 ms of CPU on this machine).
- The audit entry is one statement on the same connection that also checks a cached
  sign-in session (:mod:`ehr_core.session_cache`); the session guard
  (:mod:`ehr_core.api.session_guard`) checks what ends without one.

Audit rules are those of :class:`~ehr_core.api.deps.AuditTrail`: the entry is chained
and committed before the answer leaves (without waiting for the WAL flush), a missing
record answers 404 without an entry, and a read-only region spools the entry instead.
On SQLite the read's own transaction ends and the entry is appended as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from ehr_core import audit
from ehr_core.api.deps import Actor, authenticate
from ehr_core.api.session_guard import request_auth
from ehr_core.db import Database, is_read_only_error
from ehr_core.errors import Unauthorized
from ehr_core.session_cache import SQLSTATE_ENDED, SQLSTATE_ROLE_CHANGED, SessionChanged


class LazyConnection:
    """A read connection opened on first use (so in the thread pool: opening may have to
    connect), closed when the request ends."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None

    def get(self) -> Connection:
        if self._conn is None:
            self._conn = self._db.read_connection()
        return self._conn

    def rollback(self) -> None:
        """End the read's transaction, if a connection was opened."""
        if self._conn is not None:
            self._conn.rollback()

    async def close(self) -> None:
        """Return the connection to the pool: in the event loop when that does no I/O
        (autocommit, or a read that ended), else in the thread pool."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.in_transaction() and not self._db.reads_autocommit:
            await run_in_threadpool(conn.close)
        else:
            conn.close()


class ReadAuditTrail:
    """The caller, the read connection, and the audit entry a read route ends with."""

    def __init__(self, request: Request, connection: LazyConnection, actor: Actor) -> None:
        self.request = request
        self.actor = actor
        self._connection = connection

    @property
    def conn(self) -> Connection:
        """The request's read connection (opened on first use)."""
        return self._connection.get()

    def read(
        self,
        action: str,
        resource_type: str,
        resource_id: object = None,
        patient_id: int | None = None,
    ) -> None:
        """Audit the read (committed before this returns). On a read-only database the
        entry goes to the spool file instead, so reads keep working on a standby."""
        state = self.request.app.state
        event = self.actor.event(action, resource_type, resource_id, patient_id)
        if state.region.is_read_only():
            self._spool(event)
            return
        try:
            if state.db.reads_autocommit:
                self._append_checked(event)
            else:
                self.conn.commit()  # end the read; the entry goes in a transaction of its own
                audit.append_now(state.db.engine, event, durable=False)
        except DBAPIError as e:
            if not is_read_only_error(e):
                raise
            state.region.mark_read_only()
            self._spool(event)

    def _spool(self, event: audit.AuditEvent) -> None:
        settings = self.request.app.state.settings
        self._connection.rollback()
        audit.spool(settings.audit_spool_path, event, region=settings.region)

    def _append_checked(self, event: audit.AuditEvent) -> None:
        """Append in one autocommitted statement that also checks a cached session."""
        auth = request_auth(self.request.scope)
        unchecked = auth is not None and auth.unchecked
        try:
            audit.append_autocommitted(
                self.conn,
                event,
                session_id=auth.session_id if auth is not None and unchecked else None,
                role=auth.role if auth is not None and unchecked else None,
            )
        except DBAPIError as e:
            sqlstate = getattr(e.orig, "sqlstate", None)
            if sqlstate == SQLSTATE_ENDED and auth is not None:
                self.request.app.state.sessions.drop(auth.digest)
                raise Unauthorized() from None
            if sqlstate == SQLSTATE_ROLE_CHANGED:
                raise SessionChanged() from None
            raise
        if auth is not None and unchecked:
            auth.verified = True


async def read_trail(request: Request) -> AsyncIterator[ReadAuditTrail]:
    """The :class:`ReadAuditTrail` of a read route, in one flat dependency (FastAPI's
    resolution of nested ones costs more than a cached read's own work)."""
    connection = LazyConnection(request.app.state.db)
    try:
        actor = await authenticate(request, connection.get, may_cache=True)
        yield ReadAuditTrail(request, connection, actor)
    finally:
        await connection.close()


ReadTrail = Annotated[ReadAuditTrail, Depends(read_trail)]

__all__ = ["LazyConnection", "ReadAuditTrail", "ReadTrail", "read_trail"]
