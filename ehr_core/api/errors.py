"""Exception handlers: every error leaves the service as ``{"error","detail","fields"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ehr_core.db import is_read_only_error
from ehr_core.errors import Conflict, DatabaseError, EhrError, ReadOnly

log = logging.getLogger("chartguard.ehr.error")


class ErrorBody(BaseModel):
    """The one error shape, as the OpenAPI document shows it (extra keys such as
    ``region`` may follow)."""

    error: str
    detail: str
    fields: list[dict[str, str]]


#: Error statuses documented on every operation: FastAPI would otherwise document only its
#: own 422 shape (``{"detail": [...]}``), which this service never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "bad request",
        401: "missing, invalid or expired token",
        403: "the caller's role may not do this",
        404: "not found (or another practice's)",
        409: "conflict (stale version, consent missing, ...)",
        413: "request body too large",
        422: "invalid fields (named in fields)",
        503: "read-only region or database unavailable",
    }.items()
}

#: Also documented on the routes that check or hash a password (ehr_core/passwords.py).
PASSWORD_WORK_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "too many sign-ins at once: retry after Retry-After seconds",
    }
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def error_response(error: EhrError) -> JSONResponse:
    """The JSON response for one of our errors (status, body and headers)."""
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _ehr_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EhrError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the offending input back (pydantic's "input"): it may be patient data.
    fields = [
        {"field": _field_name(err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()
    ]
    names = ", ".join(sorted({f["field"] for f in fields})) or "request"
    return JSONResponse(
        {"error": "validation_error", "detail": f"invalid fields: {names}", "fields": fields},
        status_code=422,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return JSONResponse(
        {"error": _HTTP_CODES.get(exc.status_code, "http_error"), "detail": detail, "fields": []},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _db_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if is_read_only_error(exc):
        request.app.state.region.mark_read_only()
        settings = request.app.state.settings
        return error_response(ReadOnly(settings.region, settings.retry_after_seconds))
    if isinstance(exc, IntegrityError):
        # The driver's message quotes key values; say only what kind of problem it is.
        return error_response(Conflict("the change conflicts with existing data"))
    log.warning("database error %s", type(getattr(exc, "orig", exc)).__name__)
    error = DatabaseError("the database is unavailable; retry later")
    error.headers["Retry-After"] = str(request.app.state.settings.retry_after_seconds)
    return error_response(error)


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PoolTimeout)
    # Every pooled connection stayed busy past the pool timeout (a login storm, a slow
    # database): the service is overloaded, not broken. A 503 with Retry-After tells the
    # router and clients to come back, where a 500 would read as a bug.
    log.warning("database pool exhausted on %s", request.method)
    error = DatabaseError("the service is busy: no database connection was free; retry later")
    error.headers["Retry-After"] = str(request.app.state.settings.retry_after_seconds)
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the JSON error shape, and document that shape on every route
    included after this call."""
    app.router.responses = {**ERROR_RESPONSES, **app.router.responses}
    app.add_exception_handler(EhrError, _ehr_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
