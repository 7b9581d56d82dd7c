"""In-process fan-out of status changes to SSE clients and webhook dispatch.

Publishing never blocks: a client whose queue is full is dropped (its EventSource
reconnects and refetches the summary), so one slow browser cannot stall the service.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitoring.status.models import ComponentRef


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``type`` like ``incident.opened``; ``refs`` are the components it concerns."""

    id: int
    type: str
    data: dict[str, Any]
    refs: tuple[ComponentRef, ...] = ()
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def sse(self) -> str:
        """The event as one server-sent-events frame."""
        payload = json.dumps({"type": self.type, "at": self.at.isoformat(), **self.data},
                             default=str)
        return f"id: {self.id}\nevent: {self.type}\ndata: {payload}\n\n"


_CLOSED = object()


class EventBus:
    """Publish/subscribe for :class:`Event`; safe to publish from any thread."""

    def __init__(self, *, queue_size: int = 100) -> None:
        self._queue_size = queue_size
        self._queues: dict[asyncio.Queue[object], asyncio.AbstractEventLoop] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` synchronously for every event (it must not block)."""
        self._listeners.append(listener)

    def publish(self, type_: str, data: dict[str, Any],
                refs: tuple[ComponentRef, ...] = ()) -> Event:
        with self._lock:
            event = Event(id=self._next_id, type=type_, data=data, refs=refs)
            self._next_id += 1
            queues = list(self._queues.items())
        for queue, loop in queues:
            loop.call_soon_threadsafe(self._offer, queue, event)
        for listener in self._listeners:
            listener(event)
        return event

    def _offer(self, queue: asyncio.Queue[object], item: object) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # A stuck client: close its stream rather than grow memory without bound.
            self._drop(queue)
            queue.get_nowait()
            queue.put_nowait(_CLOSED)

    def _drop(self, queue: asyncio.Queue[object]) -> None:
        with self._lock:
            self._queues.pop(queue, None)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._queues)

    def subscribe(self, *, heartbeat: float) -> AsyncIterator[Event | None]:
        """Register now (no event published after this call is missed) and return an
        iterator of events, with ``None`` every ``heartbeat`` seconds of silence."""
        queue: asyncio.Queue[object] = asyncio.Queue(self._queue_size)
        with self._lock:
            self._queues[queue] = asyncio.get_running_loop()
        return self._iterate(queue, heartbeat)

    async def _iterate(self, queue: asyncio.Queue[object],
                       heartbeat: float) -> AsyncIterator[Event | None]:
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield None
                    continue
                if item is _CLOSED:
                    return
                assert isinstance(item, Event)
                yield item
        finally:
            self._drop(queue)

    def close(self) -> None:
        """End every open subscription (service shutdown)."""
        with self._lock:
            queues = list(self._queues.items())
            self._queues.clear()
        for queue, loop in queues:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, _CLOSED)
            except RuntimeError:  # loop already closed: nothing is waiting on the queue
                pass
