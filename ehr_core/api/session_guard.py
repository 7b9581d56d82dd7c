"""No answer leaves on a cached sign-in that was not checked (pure ASGI).

Read routes take their caller from the per-worker :class:`~ehr_core.session_cache.
SessionCache`; their audit statement checks the session (see that module). This guard
covers everything else such a request can end in: an error before the audit (404, 403,
422), a route that does not audit. When the answer is about to start and the cached
session was not checked, the guard checks it with a query of its own; an ended session
answers 401 instead, a changed role serves the request once more with a fresh lookup
(it raises :class:`~ehr_core.session_cache.SessionChanged` out of the route or its audit
statement; nothing has been sent then). Only GET and HEAD requests are ever served from
the cache, so there is never a body to replay.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehr_core.api.errors import error_response
from ehr_core.db import Database
from ehr_core.errors import DatabaseError, EhrError, Unauthorized
from ehr_core.session_cache import SessionCache, SessionChanged, SessionCheck, check_session

#: Where the request's :class:`RequestAuth` lives in the ASGI scope's ``state``.
STATE_KEY = "chartguard_auth"
#: Set in ``state`` when the request must look its caller up afresh (the retry).
FRESH_KEY = "chartguard_fresh_auth"
CACHEABLE_METHODS = frozenset({"GET", "HEAD"})


@dataclasses.dataclass(slots=True)
class RequestAuth:
    """How this request's caller was found: from the cache (``cached``) and, if so,
    whether a statement has checked the session yet (``verified``)."""

    digest: str
    session_id: int
    user_id: int
    role: str
    cached: bool
    verified: bool

    @property
    def unchecked(self) -> bool:
        return self.cached and not self.verified


def request_auth(scope: Scope) -> RequestAuth | None:
    found: RequestAuth | None = scope.get("state", {}).get(STATE_KEY)
    return found


def fresh_auth_required(scope: Scope) -> bool:
    return bool(scope.get("state", {}).get(FRESH_KEY))


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class SessionGuardMiddleware:
    """Checks an unchecked cached session before the answer starts; serves a request
    again (once) when its caller's role changed."""

    def __init__(self, app: ASGIApp, *, db: Database, sessions: SessionCache) -> None:
        self.app = app
        self.db = db
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CACHEABLE_METHODS:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = [False]
        try:
            await self.app(scope, receive, self._guarded(scope, send, started))
        except SessionChanged:
            if started[0]:
                raise
            self._forget(scope)
            state.pop(STATE_KEY, None)
            state[FRESH_KEY] = True
            await self.app(scope, _no_body, self._guarded(scope, send, started))

    def _guarded(self, scope: Scope, send: Send, started: list[bool]) -> Send:
        swallow = [False]

        async def guarded_send(message: Message) -> None:
            if swallow[0]:
                return
            if message["type"] == "http.response.start":
                auth = request_auth(scope)
                if auth is not None and auth.unchecked:
                    refusal = await self._check(scope, auth)
                    if refusal is not None:
                        swallow[0] = True
                        started[0] = True
                        await _send_error(send, refusal)
                        return
                started[0] = True
            await send(message)

        return guarded_send

    async def _check(self, scope: Scope, auth: RequestAuth) -> EhrError | None:
        """None when the session holds; the error to answer with when it ended (or the
        check failed). Raises :class:`SessionChanged` when the role changed."""

        def run() -> SessionCheck:
            with self.db.read_connection() as conn:
                return check_session(
                    conn, session_id=auth.session_id, user_id=auth.user_id, role=auth.role
                )

        try:
            outcome = await run_in_threadpool(run)
        except SQLAlchemyError:  # the database, or a pool with no connection free
            error = DatabaseError("the database is unavailable; retry later")
            error.headers["Retry-After"] = "1"
            return error
        if outcome is SessionCheck.role_changed:
            raise SessionChanged()
        if outcome is SessionCheck.ended:
            self._forget(scope)
            return Unauthorized()
        auth.verified = True
        return None

    def _forget(self, scope: Scope) -> None:
        auth = request_auth(scope)
        if auth is not None:
            self.sessions.drop(auth.digest)


async def _send_error(send: Send, error: EhrError) -> None:
    response = error_response(error)
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": bytes(response.body)})


__all__ = [
    "CACHEABLE_METHODS",
    "FRESH_KEY",
    "STATE_KEY",
    "RequestAuth",
    "SessionGuardMiddleware",
    "fresh_auth_required",
    "request_auth",
]
