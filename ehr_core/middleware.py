"""Pure-ASGI middleware on every request: region header, body-size limit, metrics, access log.

Written as raw ASGI (not ``BaseHTTPMiddleware``) to keep the request path lean. The access
log records the route template, never the raw path or query string: a search query may
hold a patient's name.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ehr_core.metrics import UNMATCHED_ROUTE, Metrics

access_log = logging.getLogger("chartguard.ehr.access")
error_log = logging.getLogger("chartguard.ehr.error")


class _BodyTooLarge(HTTPException):
    """Raised mid-body; FastAPI re-raises HTTPExceptions, so it becomes our JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


def _json_error(status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> tuple:
    payload = json.dumps(body).encode()
    return (
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        },
        {"type": "http.response.body", "body": payload},
    )


class EdgeMiddleware:
    """Adds ``X-Chartguard-Region``, refuses bodies over ``max_body_bytes`` with 413,
    and records request count, duration and in-flight gauge per route template."""

    def __init__(self, app: ASGIApp, *, region: str, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.region_header = (b"x-chartguard-region", region.encode())
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = [500]
        response_started = [False]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), self.region_header]
            await send(message)

        too_large = self._declared_too_large(scope)
        self.metrics.in_flight.inc()
        try:
            if too_large:
                await self._reject_too_large(send_wrapper)
            else:
                try:
                    await self.app(scope, self._limited(receive), send_wrapper)
                except _BodyTooLarge:
                    if response_started[0]:
                        raise
                    await self._reject_too_large(send_wrapper)
                except Exception as e:
                    # Last resort: answer in our shape and log only the type, because an
                    # exception's message or traceback locals may carry patient data.
                    if response_started[0]:
                        raise
                    error_log.error(
                        "unhandled %s on %s %s",
                        type(e).__name__,
                        scope.get("method"),
                        getattr(scope.get("route"), "path", UNMATCHED_ROUTE),
                    )
                    start, body = _json_error(
                        500,
                        {
                            "error": "internal_error",
                            "detail": "internal server error",
                            "fields": [],
                        },
                        [],
                    )
                    await send_wrapper(start)
                    await send_wrapper(body)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope.get("method", "GET")
            self.metrics.observe(
                route=template, method=method, status=status_holder[0], seconds=elapsed
            )
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1fms", method, template, status_holder[0], elapsed * 1000
                )

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value) > self.max_body_bytes
                except ValueError:
                    return False
        return False

    def _limited(self, receive: Receive) -> Receive:
        """A receive that raises once more than ``max_body_bytes`` arrived (chunked bodies)."""
        seen = [0]
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise _BodyTooLarge(limit)
            return message

        return limited_receive

    async def _reject_too_large(self, send: Send) -> None:
        start, body = _json_error(
            413,
            {
                "error": "payload_too_large",
                "detail": f"request body exceeds {self.max_body_bytes} bytes",
                "fields": [],
            },
            [],
        )
        await send(start)
        await send(body)
