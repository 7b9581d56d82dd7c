"""The FastAPI side: the header as a declared (documented, validated) parameter of every
write route, and the replay of a stored answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request, Response

from ehr_core.idempotency.key import (
    HEADER,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    STATE_NAME,
    RequestKey,
    request_sha256,
)
from ehr_core.idempotency.keyed_write import KeyedWrite, Replay

KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description=(
            "Makes a retry of this write safe: the first request with a key is processed "
            "and its success stored with the write; the same key with the same method, "
            "path and body replays that answer (header Idempotent-Replayed: true) without "
            "writing again; with another request it answers 422 idempotency_key_reused; "
            "while the first is still running, 409 with Retry-After. Keys are per user "
            "and kept 24 h. 1-128 characters of A-Z a-z 0-9 . _ : -"
        ),
    ),
]


async def request_key(request: Request, idempotency_key: KeyHeader = None) -> RequestKey | None:
    """Parse the header (FastAPI has validated its format) and register this request's
    :class:`KeyedWrite`; the audit trail looks it up once the caller is known."""
    if idempotency_key is None:
        return None
    # FastAPI has read (and cached) the body already when the route takes one.
    body = await request.body()
    key = RequestKey(
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        request_sha256=request_sha256(request.url.query.encode(), body),
    )
    ttl = request.app.state.settings.idempotency_ttl_seconds
    setattr(request.state, STATE_NAME, KeyedWrite(key, ttl_seconds=ttl))
    return key


def current(request: Request) -> KeyedWrite | None:
    """This request's :class:`KeyedWrite`, when it carries a valid key on a write route."""
    keyed: KeyedWrite | None = request.scope.get("state", {}).get(STATE_NAME)
    return keyed


async def replay_response(_request: Request, exc: Exception) -> Response:
    """Answer with the stored status, headers and body, marked as a replay."""
    assert isinstance(exc, Replay)
    stored = exc.response
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        headers={**stored.headers, REPLAYED_HEADER: "true"},
    )


__all__ = ["KeyHeader", "current", "replay_response", "request_key"]
