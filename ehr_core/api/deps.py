"""Request dependencies shared by every router (also the FHIR one).

- ``SessionDep``: a database session for this request (closed, and rolled back unless
  committed, when the request ends).

Cheap dependencies are ``async``: FastAPI runs each synchronous one in a thread pool hop
of its own, and those hops cost more than the rest of a cached read. A read route's
only hop is its own body.
- ``CurrentUser``: the authenticated :class:`Actor` (401 without a valid token). A
  read-only session (:mod:`ehr_core.read_only_sessions`) authenticates only while the
  region is read-only.
- ``require_roles(*roles)`` / ``OwnerUser`` / ``ClinicalUser``: role checks (403).
- ``WritableDep``: refuses writes with 503 ``read_only`` when the database is a standby;
  it also declares the optional ``Idempotency-Key`` header of every write route.
  ``RegionReadOnly`` (login) declares the same header and tells instead of refusing.
- ``AuditDep``: the request's :class:`AuditTrail`; ``.read()``/``.write()`` append to the
  practice's hash chain and commit. With an ``Idempotency-Key`` the trail looks the key
  up first, and a write's commit waits for its answer (see :mod:`ehr_core.idempotency`).
- ``ReadTrail`` (:mod:`ehr_core.api.read_trail`): everything a plain read route needs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from ehr_core import audit, idempotency, switchover
from ehr_core.api.session_guard import CACHEABLE_METHODS, RequestAuth, fresh_auth_required
from ehr_core.api.session_guard import (
    STATE_KEY as AUTH_STATE_KEY,
)
from ehr_core.db import is_read_only_error
from ehr_core.errors import Forbidden, ReadOnly, Unauthorized
from ehr_core.fastquery import FastQuery
from ehr_core.models import AuthSession, Role, User, utcnow
from ehr_core.read_only_sessions import is_read_only_token
from ehr_core.security import token_digest
from ehr_core.session_cache import CachedSession, SessionCache


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: the user, their practice and role, and where from.

    ``read_only`` marks a read-only session (signed in while the region was read-only;
    ``session_id`` is then its id in the read-only session store): it can never write.
    """

    user_id: int
    practice_id: int
    role: str
    session_id: int
    remote_addr: str | None
    read_only: bool = False

    def event(
        self, action: str, resource_type: str, resource_id: object, patient_id: int | None
    ) -> audit.AuditEvent:
        """The audit entry of this caller doing ``action`` to a resource."""
        return audit.AuditEvent(
            practice_id=self.practice_id,
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            patient_id=patient_id,
            user_id=self.user_id,
            remote_addr=self.remote_addr,
        )


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session, made in the event loop (that does no I/O). It is closed
    there too when that does no I/O (its work was committed); a session left in a
    transaction (an error) closes in the thread pool, where its rollback may wait on
    the database."""
    session = request.app.state.db.session()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Built once: this runs on every authenticated request that the cache does not serve.
_SESSION_LOOKUP = FastQuery(
    select(
        User.id,
        User.practice_id,
        User.role,
        User.disabled,
        AuthSession.id.label("session_id"),
        AuthSession.expires_at,
    )
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


_ACCOUNT_LOOKUP = select(
    User.practice_id, User.role, User.disabled, User.password_changed_at
).where(User.id == bindparam("user_id"))


def _read_only_actor(request: Request, session: Session | Connection, token: str) -> Actor:
    """The caller of a read-only session: only while the region is read-only, only while
    the replicated account is enabled and its password unchanged since the sign-in."""
    state = request.app.state
    if not state.region.is_read_only():
        raise Unauthorized(
            "this session was signed in while the region was read-only and ends now that "
            "the region accepts writes: sign in again"
        )
    found = state.read_only_sessions.find(token)
    if found is None:
        raise Unauthorized()
    account = session.execute(_ACCOUNT_LOOKUP, {"user_id": found.user_id}).first()
    # A disable or password change made on the primary reaches this standby by
    # replication and ends read-only sessions as it ends database sessions.
    if (
        account is None
        or account.disabled
        or account.password_changed_at.isoformat() != found.password_changed_at
    ):
        raise Unauthorized()
    return Actor(
        user_id=found.user_id,
        practice_id=account.practice_id,
        role=account.role,
        session_id=found.id,
        remote_addr=request.client.host if request.client else None,
        read_only=True,
    )


def _look_up(session: Session | Connection, digest: str) -> CachedSession | None:
    """The sign-in session of a token digest, if it holds (one indexed query)."""
    row = _SESSION_LOOKUP.first(session, {"token_hash": digest})
    if row is None or row["disabled"] or row["expires_at"] <= utcnow():
        return None
    return CachedSession(
        session_id=row["session_id"],
        user_id=row["id"],
        practice_id=row["practice_id"],
        role=row["role"],
        expires_at=row["expires_at"].timestamp(),
        cached_at=time.monotonic(),
    )


def _may_use_cache(request: Request) -> bool:
    """Not on a region known to be read-only: it spools its audit entries, so each
    cached read would need a check of its own (the session guard makes it, should the
    region turn read-only under a cached read)."""
    state = request.app.state
    return (
        state.sessions.enabled
        and request.method in CACHEABLE_METHODS
        and not fresh_auth_required(request.scope)
        and state.region.known_read_only() is not True
    )


async def authenticate(
    request: Request, db: Callable[[], Session | Connection], *, may_cache: bool
) -> Actor:
    """Resolve the bearer token; 401 if missing, expired, ended or disabled.

    With ``may_cache`` (read routes, :data:`~ehr_core.api.read_trail.ReadTrail`) the
    caller may come from the per-worker session cache (no I/O here; the route's audit
    statement, or the session guard, checks the session before any answer leaves);
    otherwise the token is looked up with one indexed query on ``db()`` (called in the
    thread pool: it may connect)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    if is_read_only_token(token):
        return await run_in_threadpool(lambda: _read_only_actor(request, db(), token))
    digest = token_digest(token)
    cache: SessionCache = request.app.state.sessions
    use_cache = may_cache and _may_use_cache(request)
    found = cache.get(digest) if use_cache else None
    cached = found is not None
    if found is None:
        found = await run_in_threadpool(lambda: _look_up(db(), digest))
        if found is None:
            cache.drop(digest)
            raise Unauthorized()
        if use_cache:
            cache.put(digest, found)
    request.scope.setdefault("state", {})[AUTH_STATE_KEY] = RequestAuth(
        digest=digest,
        session_id=found.session_id,
        user_id=found.user_id,
        role=found.role,
        cached=cached,
        verified=not cached,
    )
    return Actor(
        user_id=found.user_id,
        practice_id=found.practice_id,
        role=found.role,
        session_id=found.session_id,
        remote_addr=request.client.host if request.client else None,
    )


async def get_current_user(request: Request, session: SessionDep) -> Actor:
    """The caller, looked up (401 if the token is missing, expired, ended or disabled)."""
    return await authenticate(request, lambda: session, may_cache=False)


CurrentUser = Annotated[Actor, Depends(get_current_user)]


def require_roles(*roles: Role | str) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency returning the caller when their role is one of ``roles``, else 403."""
    allowed = frozenset(str(r) for r in roles)

    async def check(actor: CurrentUser) -> Actor:
        if actor.role not in allowed:
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(allowed))}")
        return actor

    return check


OwnerUser = Annotated[Actor, Depends(require_roles(Role.owner))]
ClinicalUser = Annotated[Actor, Depends(require_roles(Role.owner, Role.clinician))]


async def _region_read_only(state: State) -> bool:
    """The region's role: from the cache without a thread hop while it is fresh."""
    known: bool | None = state.region.known_read_only()
    if known is not None:
        return known
    return bool(await run_in_threadpool(state.region.is_read_only))


async def _held_until_promoted(state: State) -> bool:
    """On a read-only region: True once an announced switchover promoted it (the request
    waited, at most ``write_hold_max_seconds``), False if it stays read-only."""
    return await switchover.wait_until_writable(
        db=state.db,
        region=state.region,
        metrics=state.metrics,
        max_seconds=state.settings.write_hold_max_seconds,
    )


async def ensure_writable(
    request: Request,
    session: SessionDep,
    _key: Annotated[idempotency.RequestKey | None, Depends(idempotency.request_key)],
) -> None:
    """503 ``read_only`` + ``Retry-After`` when this region's database refuses writes
    (checked before any idempotency lookup: a standby stores nothing), unless a planned
    switchover is announced: then the write waits for the promotion (see
    :mod:`ehr_core.switchover`) and proceeds."""
    state = request.app.state
    if not await _region_read_only(state):
        return
    if await _held_until_promoted(state):
        # A transaction begun while the database was a standby stays read-only after
        # the promotion: the write (and its Idempotency-Key) must start a fresh one.
        await run_in_threadpool(session.rollback)
        return
    raise ReadOnly(state.settings.region, state.settings.retry_after_seconds)


WritableDep = Depends(ensure_writable)


async def region_read_only(
    request: Request,
    _key: Annotated[idempotency.RequestKey | None, Depends(idempotency.request_key)],
) -> bool:
    """Whether this region's database refuses writes, for the one write that still works
    there (login, which then issues a read-only session). Declares the optional
    ``Idempotency-Key`` header like :data:`WritableDep`.

    During an announced switchover a login waits for the promotion as a write does, so
    it gets an ordinary session rather than a read-only one that ends seconds later."""
    state = request.app.state
    if not await _region_read_only(state):
        return False
    return not await _held_until_promoted(state)


RegionReadOnly = Annotated[bool, Depends(region_read_only)]


class AuditTrail:
    """Appends this request's audit entries and commits the request's transaction."""

    def __init__(
        self,
        request: Request,
        session: Session,
        actor: Actor,
        keyed: idempotency.KeyedWrite | None = None,
    ) -> None:
        self.request = request
        self.session = session
        self.actor = actor
        self.keyed = keyed

    def _event(
        self, action: str, resource_type: str, resource_id: object, patient_id: int | None
    ) -> audit.AuditEvent:
        return self.actor.event(action, resource_type, resource_id, patient_id)

    def read(
        self,
        action: str,
        resource_type: str,
        resource_id: object = None,
        patient_id: int | None = None,
    ) -> None:
        """Audit a read and commit. On a read-only database the entry goes to the spool
        file instead, so reads keep working on a standby."""
        event = self._event(action, resource_type, resource_id, patient_id)
        state = self.request.app.state
        if state.region.is_read_only():
            self.session.rollback()
            audit.spool(state.settings.audit_spool_path, event, region=state.settings.region)
            return
        try:
            # A read's audit entry does not wait for the WAL flush or a synchronous
            # standby: otherwise every chart view would pay a commit round trip to the
            # other region, and a cut replication link would block reads as well as
            # writes. A crash can lose the last fraction of a second of *read* audit
            # entries (never data, never write audits); the chain stays consistent
            # because head and entry commit together. The answer leaves only after the
            # entry is committed. The read's transaction ends first, and the entry is
            # chained in one of its own, so the practice's chain lock is never held
            # while this worker waits for its turn on the CPU (see ehr_core/audit.py).
            self.session.commit()
            audit.append_now(state.db.engine, event, durable=False)
        except DBAPIError as e:
            if not is_read_only_error(e):
                raise
            self.session.rollback()
            state.region.mark_read_only()
            audit.spool(state.settings.audit_spool_path, event, region=state.settings.region)

    def write(
        self,
        action: str,
        resource_type: str,
        resource_id: object = None,
        patient_id: int | None = None,
    ) -> None:
        """Audit a write and commit it together with the change (atomically). A keyed
        write (``Idempotency-Key``) commits later, with its stored answer.

        A read-only session never writes: its change is rolled back with 503
        ``read_only`` (the write guard answers first; this holds even if it did not)."""
        if self.actor.read_only:
            self.session.rollback()
            settings = self.request.app.state.settings
            raise ReadOnly(settings.region, settings.retry_after_seconds)
        self.session.flush()
        event = self._event(action, resource_type, resource_id, patient_id)
        if self.keyed is not None and self.keyed.armed:
            self.keyed.defer(event)
            return
        audit.append(self.session, event)
        self.session.commit()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once :meth:`write` committed: now, or for a keyed write after
        its answer is stored (e.g. start a job that must see the committed row)."""
        if self.keyed is not None and self.keyed.pending:
            self.keyed.after_commit(action)
        else:
            action()


async def get_audit_trail(
    request: Request, session: SessionDep, actor: CurrentUser
) -> AuditTrail:
    """The request's trail; on a keyed write route, after the key's lookup (which may
    answer at once with a replay, 422 ``idempotency_key_reused`` or 409 in flight)."""
    keyed = idempotency.current(request)
    if keyed is not None:
        await run_in_threadpool(
            keyed.begin, session, user_id=actor.user_id, practice_id=actor.practice_id
        )
    return AuditTrail(request, session, actor, keyed)


AuditDep = Annotated[AuditTrail, Depends(get_audit_trail)]

