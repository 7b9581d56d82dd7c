"""``/healthz``, ``/readyz`` and ``/metrics``: no auth, fast, for routers and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """The process is alive (does not touch the database)."""
    return {"status": "ok", "region": request.app.state.settings.region}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 with the database's role and lag; 503 when the database does not answer in time.

    Answered from the event loop and the probe's own thread: requests filling every
    request thread cannot delay it past the router's check timeout."""
    info = await request.app.state.region.probe_async()
    region = request.app.state.settings.region
    if not info.reachable:
        return JSONResponse(
            {"status": "unavailable", "region": region, "role": None, "detail": info.error},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    return JSONResponse(
        {
            "status": "ok",
            "region": region,
            "role": info.role,
            "read_only": info.read_only,
            "replication_lag_seconds": info.replication_lag_seconds,
        }
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    payload, content_type = request.app.state.metrics.exposition()
    return Response(payload, media_type=content_type)
