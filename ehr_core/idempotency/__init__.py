"""Safe retries of writes: the ``Idempotency-Key`` request header.

A write route declares the header through :data:`~ehr_core.api.deps.WritableDep`; the
request's audit trail looks the key up once the caller is known (replay, reuse, in
flight); a keyed write's transaction commits together with its stored answer in
:class:`IdempotencyMiddleware`. :func:`install` wires the middleware and the replay
handler into an app.
"""

from __future__ import annotations

from fastapi import FastAPI

from ehr_core.idempotency.dependency import current, replay_response, request_key
from ehr_core.idempotency.key import HEADER, REPLAYED_HEADER, RequestKey
from ehr_core.idempotency.keyed_write import KeyedWrite, Replay, StoredResponse
from ehr_core.idempotency.middleware import IdempotencyMiddleware
from ehr_core.idempotency.store import purge_expired


def install(app: FastAPI) -> None:
    """Add the replay handler and the commit middleware (inside any middleware added
    after this call)."""
    app.add_exception_handler(Replay, replay_response)
    app.add_middleware(IdempotencyMiddleware)


__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "IdempotencyMiddleware",
    "KeyedWrite",
    "Replay",
    "RequestKey",
    "StoredResponse",
    "current",
    "install",
    "purge_expired",
    "request_key",
]
