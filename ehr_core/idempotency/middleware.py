"""Pure-ASGI middleware that commits a keyed write together with its rendered answer.

Only requests whose route registered a pending :class:`KeyedWrite` are touched: their
response start and body are held, :meth:`KeyedWrite.finish` stores the answer and commits
the write in the same transaction (in the thread pool: it is database work), and only
then the response goes out. If that commit fails, the client gets the error instead of
a success: an acknowledged keyed write is always committed with its key.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehr_core.db import is_read_only_error
from ehr_core.errors import DatabaseError, EhrError, IdempotencyKeyInFlight, ReadOnly
from ehr_core.idempotency.key import HEADER, STATE_NAME, WRITE_METHODS
from ehr_core.idempotency.keyed_write import KeyedWrite

error_log = logging.getLogger("chartguard.ehr.error")


def _may_write(scope: Scope) -> bool:
    method = scope.get("method", "GET")
    # FHIR's $export kick-off is a GET that creates a job.
    return method in WRITE_METHODS or (method == "GET" and scope["path"].endswith("/$export"))


class IdempotencyMiddleware:
    """Holds a keyed write's response until its transaction (write + answer) committed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_write(scope):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        held: list[Message] = []
        chunks: list[bytes] = []

        async def send_wrapper(message: Message) -> None:
            keyed: KeyedWrite | None = state.get(STATE_NAME)
            if keyed is None or not keyed.pending:
                await send(message)
                return
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, body = held[0], b"".join(chunks)
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in start.get("headers", [])
            }
            try:
                await run_in_threadpool(
                    keyed.finish, status_code=start["status"], headers=headers, body=body
                )
            except Exception as e:  # the write rolled back with its key: say so, not 2xx
                await self._error_response(scope, e)(scope, receive, send)
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            keyed = state.get(STATE_NAME)
            if keyed is not None and keyed.outcome is not None:
                scope["app"].state.metrics.idempotency.labels(
                    scope["app"].state.settings.region, keyed.outcome
                ).inc()

    @staticmethod
    def _error_response(scope: Scope, exc: Exception) -> JSONResponse:
        app_state = scope["app"].state
        settings = app_state.settings
        error: EhrError
        if isinstance(exc, DBAPIError) and is_read_only_error(exc):
            app_state.region.mark_read_only()
            error = ReadOnly(settings.region, settings.retry_after_seconds)
        elif isinstance(exc, IntegrityError):
            # Another transaction stored this key first: a retry replays its answer.
            keyed = scope.get("state", {}).get(STATE_NAME)
            if keyed is not None:
                keyed.outcome = "in_flight"
            error = IdempotencyKeyInFlight(HEADER)
        elif isinstance(exc, DBAPIError):
            error_log.warning("keyed write commit failed: %s", type(exc.orig).__name__)
            error = DatabaseError("the database is unavailable; retry later")
            error.headers["Retry-After"] = str(settings.retry_after_seconds)
        else:
            error_log.error("keyed write commit failed: %s", type(exc).__name__)
            error = EhrError("internal server error")
        return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


__all__ = ["IdempotencyMiddleware"]
