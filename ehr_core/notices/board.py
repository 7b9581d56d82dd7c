"""The notice board: evaluates the current notice and relays changes to practice pages.

One board per EHR process. Browsers subscribe to the EHR (same origin, no CORS); while
anyone is subscribed the board keeps one upstream connection to the status service's
event stream, re-evaluating the notice as soon as anything happens there, and re-checks
the EHR's own database state every ``tick`` seconds (which works without the status
service at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ehr_core.notices.notice import LocalState, Notice, StatusLink, compose

log = logging.getLogger("chartguard.ehr.notices")


class NoticeBoard:
    """Current notice plus a change feed; ``local_state`` is a blocking callable."""

    def __init__(
        self,
        *,
        region: str,
        status_url: str | None,
        local_state: Callable[[], LocalState],
        tick: float = 1.0,
        summary_ttl: float = 2.0,
        timeout: float = 1.0,
    ) -> None:
        self.region = region
        self.status_url = status_url.rstrip("/") if status_url else None
        self._local_state = local_state
        self._tick = tick
        self._summary_ttl = summary_ttl
        self._timeout = timeout
        self._summary: tuple[float, dict[str, Any] | None, StatusLink] | None = None
        self._link: StatusLink | None = None
        self._last: Notice | None = None
        self._wake = asyncio.Event()
        self._subscribers = 0
        self._relay: asyncio.Task[None] | None = None
        # One fetch at a time: many subscribers waking together share one request.
        self._fetching = asyncio.Lock()

    async def _fetch_summary(self) -> tuple[dict[str, Any] | None, StatusLink]:
        if self.status_url is None:
            return None, "not_configured"
        async with self._fetching:
            return await self._fetch_summary_locked()

    async def _fetch_summary_locked(self) -> tuple[dict[str, Any] | None, StatusLink]:
        assert self.status_url is not None
        cached = self._summary
        if cached and time.monotonic() - cached[0] < self._summary_ttl:
            return cached[1], cached[2]
        summary: dict[str, Any] | None = None
        link: StatusLink = "ok"
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                r = await client.get(f"{self.status_url}/api/v1/summary")
                r.raise_for_status()
                summary = r.json()
        except (httpx.HTTPError, ValueError) as e:
            link = "unreachable"
            if self._link != link:  # log the transition, not every retry
                log.warning("status service unavailable: %s", type(e).__name__)
        if link == "ok" and self._link == "unreachable":
            log.info("status service reachable again")
        self._link = link
        self._summary = (time.monotonic(), summary, link)
        return summary, link

    async def current(self) -> Notice:
        """Evaluate the notice now; ``updated_at`` moves only when its content changes."""
        local = await asyncio.to_thread(self._local_state)
        summary, link = await self._fetch_summary()
        now = datetime.now(UTC)
        try:
            notice = compose(local=local, summary=summary, status_service=link,
                             region=self.region, now=now)
        except (KeyError, TypeError, ValueError) as e:
            # A status service speaking another contract must not take the EHR page down.
            log.warning("status summary not understood: %s", type(e).__name__)
            notice = compose(local=local, summary=None, status_service="unreachable",
                             region=self.region, now=now)
        last = self._last
        if last is not None and last.content_key() == notice.content_key():
            notice = notice.model_copy(update={"updated_at": last.updated_at})
        self._last = notice
        return notice

    def _changed(self) -> None:
        """Wake every subscriber (and drop the cached summary: it is stale now)."""
        self._summary = None
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def _relay_upstream(self) -> None:
        """Follow the status service's SSE stream; any event means "re-evaluate now"."""
        assert self.status_url is not None
        timeout = httpx.Timeout(self._timeout * 2, read=20.0)  # upstream pings every 15 s
        while True:
            try:
                async with httpx.AsyncClient(timeout=timeout) as client, client.stream(
                        "GET", f"{self.status_url}/api/v1/events") as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            self._changed()
            except (httpx.HTTPError, ValueError) as e:
                log.info("status event stream interrupted: %s", type(e).__name__)
            self._changed()  # the connection state itself may change the notice
            await asyncio.sleep(2.0)

    async def watch(self, *, heartbeat: float = 15.0,
                    max_seconds: float = 300.0) -> AsyncIterator[Notice | None]:
        """Yield the notice now and on every change; ``None`` as a heartbeat."""
        self._subscribers += 1
        if self._relay is None and self.status_url is not None:
            self._relay = asyncio.create_task(self._relay_upstream(), name="notice-relay")
        try:
            deadline = time.monotonic() + max_seconds
            last_key, last_sent = None, time.monotonic()
            while time.monotonic() < deadline:
                # Taken before evaluating, so a change signalled meanwhile is not missed.
                wake = self._wake
                notice = await self.current()
                if notice.content_key() != last_key:
                    last_key, last_sent = notice.content_key(), time.monotonic()
                    yield notice
                elif time.monotonic() - last_sent > heartbeat:
                    last_sent = time.monotonic()
                    yield None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=self._tick)
        finally:
            self._subscribers -= 1
            if self._subscribers == 0 and self._relay is not None:
                self._relay.cancel()
                self._relay = None
