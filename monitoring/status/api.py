"""HTTP routes of the status service: JSON API, Alertmanager webhook, SSE, Atom, page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import ValidationError

from monitoring.status.alerts import parse_payload
from monitoring.status.auth import SreUser, require_sre
from monitoring.status.budget import SloPanel
from monitoring.status.errors import InvalidInput
from monitoring.status.events import EventBus
from monitoring.status.feed import render_feed
from monitoring.status.models import (
    ComponentOverride,
    ComponentPublic,
    ComponentRef,
    IncidentCreate,
    IncidentPublic,
    IncidentUpdateCreate,
    MaintenanceCreate,
    MaintenancePublic,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
)
from monitoring.status.page import render_live, render_page
from monitoring.status.service import StatusService


def _service(request: Request) -> StatusService:
    service: StatusService = request.app.state.service
    return service


def _panel(request: Request) -> SloPanel:
    panel: SloPanel = request.app.state.slo_panel
    return panel


ServiceDep = Annotated[StatusService, Depends(_service)]
PanelDep = Annotated[SloPanel, Depends(_panel)]


def _ref(region: str, component: str) -> ComponentRef:
    try:
        return ComponentRef(region=region, component=component)
    except ValidationError as e:
        raise InvalidInput(f"unknown component {region}/{component}: "
                           f"{e.errors()[0]['msg']}", fields=["region", "component"]) from e


api = APIRouter(prefix="/api/v1")
pages = APIRouter()


@api.get("/summary")
async def summary(service: ServiceDep, panel: PanelDep) -> dict[str, Any]:
    doc = service.summary()
    doc["slo"] = (await panel.snapshot()).as_dict()
    return doc


@api.get("/components")
async def components(service: ServiceDep) -> list[ComponentPublic]:
    return service.components()


@api.put("/components/{region}/{component}")
async def override_component(region: str, component: str, body: ComponentOverride,
                             service: ServiceDep, _: SreUser) -> ComponentPublic:
    return service.override(_ref(region, component), body)


@api.delete("/components/{region}/{component}/override")
async def clear_override(region: str, component: str, service: ServiceDep,
                         _: SreUser) -> ComponentPublic:
    return service.clear_override(_ref(region, component))


@api.get("/incidents")
async def incidents(service: ServiceDep, open: bool = False,  # noqa: A002 - query name
                    limit: int = 50) -> list[IncidentPublic]:
    return service.store.incidents(open_only=open, limit=max(1, min(limit, 500)))


@api.get("/incidents/{incident_id}")
async def incident(incident_id: int, service: ServiceDep) -> IncidentPublic:
    return service.store.incident(incident_id)


@api.post("/incidents", status_code=201)
async def create_incident(body: IncidentCreate, service: ServiceDep,
                          author: SreUser) -> IncidentPublic:
    return service.create_incident(body, author=author)


@api.post("/incidents/{incident_id}/updates", status_code=201)
async def update_incident(incident_id: int, body: IncidentUpdateCreate, service: ServiceDep,
                          author: SreUser) -> IncidentPublic:
    return service.update_incident(incident_id, body, author=author)


@api.get("/maintenance")
async def maintenance(service: ServiceDep, all: bool = False) -> list[MaintenancePublic]:  # noqa: A002
    return service.store.maintenance_windows(include_completed=all)


@api.post("/maintenance", status_code=201)
async def schedule_maintenance(body: MaintenanceCreate, service: ServiceDep,
                               _: SreUser) -> MaintenancePublic:
    return service.schedule_maintenance(body)


@api.post("/maintenance/{window_id}/complete")
async def complete_maintenance(window_id: int, service: ServiceDep,
                               _: SreUser) -> MaintenancePublic:
    return service.complete_maintenance(window_id)


@api.get("/subscriptions")
async def subscriptions(service: ServiceDep, _: SreUser) -> list[SubscriptionPublic]:
    return service.subscriptions()


@api.post("/subscriptions", status_code=201)
async def subscribe(body: SubscriptionCreate, service: ServiceDep,
                    _: SreUser) -> SubscriptionCreated:
    return service.subscribe(body)


@api.delete("/subscriptions/{sub_id}", status_code=204)
async def unsubscribe(sub_id: int, service: ServiceDep, _: SreUser) -> Response:
    service.store.delete_subscription(sub_id)
    return Response(status_code=204)


@api.post("/alerts/webhook")
async def alertmanager_webhook(request: Request, service: ServiceDep) -> dict[str, int]:
    """Alertmanager receiver; needs the bearer token unless the service runs locally."""
    if request.app.state.settings.environment != "local":
        require_sre(request)
    alerts = parse_payload(await request.body())
    return service.apply_alerts(alerts)


@api.get("/events")
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: one frame per change, a comment line as heartbeat."""
    bus: EventBus = request.app.state.bus
    settings = request.app.state.settings
    deadline = time.monotonic() + settings.sse_max_seconds

    events = bus.subscribe(heartbeat=settings.heartbeat_seconds)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n: connected\n\n"
        async for event in events:
            if await request.is_disconnected() or time.monotonic() > deadline:
                return
            yield ": heartbeat\n\n" if event is None else event.sse()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@pages.get("/feed.atom")
async def feed(request: Request, service: ServiceDep) -> Response:
    body = render_feed(
        base_url=_base_url(request),
        incidents=service.store.incidents(limit=50),
        maintenance=service.store.maintenance_windows(include_completed=True, limit=20),
    )
    return Response(body, media_type="application/atom+xml")


@pages.get("/", response_class=HTMLResponse)
async def page(service: ServiceDep, panel: PanelDep) -> HTMLResponse:
    return HTMLResponse(render_page(service.summary(), await panel.snapshot()),
                        headers={"Cache-Control": "no-store"})


@pages.get("/partials/live", response_class=HTMLResponse)
async def live(service: ServiceDep, panel: PanelDep) -> HTMLResponse:
    return HTMLResponse(render_live(service.summary(), await panel.snapshot()),
                        headers={"Cache-Control": "no-store"})


@pages.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}

