"""Signed webhook deliveries to subscribers, with bounded retries.

Each event concerning a subscriber's components is POSTed as JSON, signed with the
subscriber's secret (see :mod:`monitoring.status.signing`). A delivery is tried at most
``attempts`` times with doubling back-off; the outcome is recorded on the subscription.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from urllib.parse import urlsplit

import httpx

from monitoring.status.errors import InvalidInput
from monitoring.status.events import Event
from monitoring.status.settings import is_loopback_host
from monitoring.status.signing import SIGNATURE_HEADER, sign
from monitoring.status.store import StatusStore

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Chartguard-Event"


def check_subscriber_url(url: str, *, allow_remote: bool) -> str:
    """Validate a subscriber URL; only loopback hosts unless ``allow_remote``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http(s) URL", fields=["url"])
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise InvalidInput(
            "url must point to a loopback host (127.0.0.0/8, ::1 or localhost) unless "
            "CHARTGUARD_STATUS_WEBHOOK_ALLOW_REMOTE is set", fields=["url"],
        )
    return url


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookDispatcher:
    """Listens on the event bus and delivers matching events to subscribers."""

    def __init__(
        self, *, store: StatusStore, client: httpx.AsyncClient, attempts: int,
        backoff: float,
    ) -> None:
        self._store = store
        self._client = client
        self._attempts = attempts
        self._backoff = backoff
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __call__(self, event: Event) -> None:
        """Bus listener: schedule deliveries on the service's loop (any thread may call)."""
        if self._loop is None or self._loop.is_closed():
            return  # not serving (library use without the app): there is no one to deliver
        self._loop.call_soon_threadsafe(self._schedule, event)

    def _schedule(self, event: Event) -> None:
        keys = {r.key for r in event.refs}
        for sub, secret in self._store.subscriptions():
            wanted = {r.key for r in sub.components}
            if wanted and keys and not (wanted & keys):
                continue
            task = asyncio.ensure_future(self.deliver(sub.id, sub.url, secret, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def deliver(self, sub_id: int, url: str, secret: str, event: Event) -> bool:
        """POST ``event`` to ``url``; True when a 2xx came back within the attempts."""
        body = json.dumps(
            {"id": event.id, "type": event.type, "at": event.at.isoformat(), **event.data},
            default=str,
        ).encode()
        error = None
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, body),
                EVENT_HEADER: event.type,
            }
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as e:
                error = f"attempt {attempt + 1}: {type(e).__name__}"
                continue
            if 200 <= response.status_code < 300:
                self._store.record_delivery(sub_id, error=None)
                return True
            error = f"attempt {attempt + 1}: HTTP {response.status_code}"
        log.warning("webhook delivery to subscription %s failed: %s", sub_id, error)
        self._store.record_delivery(sub_id, error=error)
        return False

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` for in-flight deliveries, then cancel the rest."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
        self._loop = None
