"""Practice notice endpoints: ``GET /api/v1/notice``, its SSE relay, and ``/practice``.

The notice is public (it holds no PHI, like a status page); the practice page asks the
user to log in before it loads the schedule.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from ehr_core.notices.board import NoticeBoard
from ehr_core.notices.notice import LocalState, Notice

router = APIRouter(tags=["notices"])

_PAGE = Path(__file__).parent / "templates" / "practice.html"
PING_SECONDS = 5.0
DEGRADED_STREAM_SECONDS = 20.0


def _board(request: Request) -> NoticeBoard:
    """The app's board, created on first use from the app's settings and region state."""
    board: NoticeBoard | None = getattr(request.app.state, "notice_board", None)
    if board is None:
        settings = request.app.state.settings
        region = request.app.state.region

        def local_state() -> LocalState:
            info = region.current()
            return LocalState(reachable=info.reachable, read_only=info.read_only)

        board = NoticeBoard(region=settings.region, status_url=settings.status_url,
                            local_state=local_state)
        request.app.state.notice_board = board
    return board


BoardDep = Annotated[NoticeBoard, Depends(_board)]


@router.get("/api/v1/notice", response_model=Notice)
async def read_notice(board: BoardDep) -> Notice:
    """The current notice for practices: mode, what works, what does not, open incidents."""
    return await board.current()


@router.get("/api/v1/notice/events")
async def notice_events(request: Request, board: BoardDep) -> StreamingResponse:
    """Server-sent events: ``event: notice`` with the notice JSON each time it changes, and
    ``event: ping`` every few seconds so a page can tell a stalled connection (a link that
    went dark without closing) from a quiet one, and reconnect."""

    started = time.monotonic()

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        degraded = False
        async for notice in board.watch(heartbeat=PING_SECONDS):
            if await request.is_disconnected():
                return
            if notice is None:
                yield "event: ping\ndata: {}\n\n"
            else:
                degraded = notice.mode in ("read_only", "outage")
                yield f"event: notice\ndata: {json.dumps(notice.model_dump(mode='json'))}\n\n"
            # A stream served by a degraded region (a standby during a failover) must not
            # outlive the outage: end it so the browser reconnects through the router,
            # which sends it back to the primary once that one is healthy again.
            if degraded and time.monotonic() - started > DEGRADED_STREAM_SECONDS:
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/practice", response_class=HTMLResponse, include_in_schema=False)
async def practice_page() -> HTMLResponse:
    """Today's schedule with the live notice banner (static page; data via the API)."""
    return HTMLResponse(_PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})
