"""Assemble the status service: store, event bus, probes, webhooks, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from monitoring.status.api import api, pages
from monitoring.status.budget import SloPanel
from monitoring.status.errors import Conflict, InvalidInput, NotFound, StatusError
from monitoring.status.events import EventBus
from monitoring.status.models import ComponentPublic
from monitoring.status.probes import Prober
from monitoring.status.regions import RegionSource
from monitoring.status.service import StatusService
from monitoring.status.settings import StatusSettings
from monitoring.status.store import StatusStore
from monitoring.status.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)

_STATUS_CODES: dict[type[StatusError], tuple[int, str]] = {
    InvalidInput: (422, "invalid_input"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
}


def _error(status: int, code: str, detail: str, fields: list[str] | None = None,
           headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, "fields": fields or []},
                        status_code=status, headers=dict(headers or {}))


async def _status_error(_: Request, exc: Exception) -> JSONResponse:
    status, code = next(
        (v for k, v in _STATUS_CODES.items() if isinstance(exc, k)), (500, "internal")
    )
    return _error(status, code, str(exc), getattr(exc, "fields", None))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    fields = [".".join(str(p) for p in e["loc"] if p != "body") for e in errors]
    detail = "; ".join(f"{f or 'body'}: {e['msg']}" for f, e in zip(fields, errors, strict=True))
    return _error(422, "invalid_input", detail, fields)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _tick(service: StatusService, every: float) -> None:
    """Publish state changes caused by the clock (maintenance windows opening/closing)."""
    previous: dict[str, ComponentPublic] | None = None
    while True:
        try:
            previous = service.tick(previous)
        except Exception:  # keep ticking; the error is logged, not hidden
            log.exception("maintenance tick failed")
        await asyncio.sleep(every)


def create_app(settings: StatusSettings, *, store: StatusStore | None = None) -> FastAPI:
    """The ASGI app; background probes and webhook delivery run while it is being served."""
    store = store or StatusStore(settings.db_path)
    bus = EventBus()
    regions = RegionSource(regions=settings.regions, deployment_file=settings.deployment_file)
    service = StatusService(store=store, bus=bus, regions=regions.regions,
                            allow_remote_webhooks=settings.webhook_allow_remote)
    probe_client = httpx.AsyncClient(timeout=settings.probe_timeout_seconds)
    hook_client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
    dispatcher = WebhookDispatcher(store=store, client=hook_client,
                                   attempts=settings.webhook_attempts,
                                   backoff=settings.webhook_backoff_seconds)
    bus.add_listener(dispatcher)
    prober = Prober(targets=regions.targets, on_verdict=service.apply_probe,
                    client=probe_client, interval=settings.probe_interval_seconds,
                    fall=settings.probe_fall, rise=settings.probe_rise,
                    lag_threshold=settings.replication_lag_threshold_seconds)
    panel = SloPanel(prometheus_url=settings.prometheus_url, slo_path=settings.slo_path,
                     client=probe_client, ttl=settings.slo_cache_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dispatcher.start(asyncio.get_running_loop())
        tasks = [asyncio.create_task(prober.run(), name="status-probes"),
                 asyncio.create_task(_tick(service, 5.0), name="status-tick")]
        try:
            yield
        finally:
            bus.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await dispatcher.drain(timeout=2.0)
            await probe_client.aclose()
            await hook_client.aclose()
            store.close()

    app = FastAPI(title="chartguard status service", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.service = service
    app.state.bus = bus
    app.state.prober = prober
    app.state.slo_panel = panel
    app.state.dispatcher = dispatcher
    app.add_exception_handler(StatusError, _status_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.include_router(api)
    app.include_router(pages)
    return app
