"""``create_app(settings)``: the EHR as a FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from ehr_core import idempotency
from ehr_core.api import (
    API_PREFIX,
    appointments,
    audit,
    auth,
    clinical,
    encounters,
    health,
    messages,
    patients,
    users,
)
from ehr_core.api.errors import install_error_handlers
from ehr_core.api.session_guard import SessionGuardMiddleware
from ehr_core.db import Database
from ehr_core.fhir import router as fhir_router
from ehr_core.metrics import Metrics
from ehr_core.middleware import EdgeMiddleware
from ehr_core.notices import router as notices_router
from ehr_core.passwords import PasswordGate
from ehr_core.read_only_sessions import ReadOnlySessions
from ehr_core.region import RegionState
from ehr_core.session_cache import SessionCache
from ehr_core.settings import Settings


def api_routers() -> list[APIRouter]:
    """The REST routers, one per resource (each carries its ``/api/v1/...`` prefix, so the
    route templates in metrics are the full paths)."""
    return [
        auth.router,
        users.router,
        patients.router,
        clinical.router,
        messages.router,
        appointments.router,
        encounters.router,
        audit.router,
    ]


def extra_routers() -> list[APIRouter]:
    """Routers mounted at the root. FHIR adds its router here (it carries its own prefix)."""
    routers: list[APIRouter] = [health.router]
    # --- other packages' routers below this line (one line each) ---
    routers.append(notices_router)
    routers.append(fhir_router)
    return routers


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the app. ``database`` and ``registry`` may be injected (tests share them)."""
    settings = settings or Settings()
    db = database or Database(settings)
    metrics = Metrics(region=settings.region, registry=registry)
    region = RegionState(
        db=db,
        region=settings.region,
        metrics=metrics,
        cache_seconds=settings.role_cache_seconds,
        timeout_seconds=settings.ready_timeout_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Request threads (sync routes and dependencies) match the connection pool.
        to_thread.current_default_thread_limiter().total_tokens = settings.db_pool_size
        try:
            yield
        finally:
            region.close()
            passwords.close()
            if database is None:
                db.dispose()

    app = FastAPI(
        title="chartguard EHR",
        version="1.0.0",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = metrics
    app.state.region = region
    app.state.read_only_sessions = ReadOnlySessions(
        path=settings.read_only_sessions_file, region=settings.region
    )
    # Sessions are checked in the audit statement, which only PostgreSQL has.
    sessions = SessionCache(ttl_seconds=0 if db.is_sqlite else settings.session_cache_seconds)
    app.state.sessions = sessions
    passwords = PasswordGate(
        concurrency=settings.password_concurrency,
        queue=settings.password_queue,
        wait_seconds=settings.password_wait_seconds,
        metrics=metrics,
    )
    app.state.passwords = passwords
    install_error_handlers(app)
    for router in api_routers():
        app.include_router(router)
    for router in extra_routers():
        app.include_router(router)
    # Innermost: a cached sign-in is checked before any answer leaves (GET only).
    app.add_middleware(SessionGuardMiddleware, db=db, sessions=sessions)
    idempotency.install(app)  # inside EdgeMiddleware: metrics see the final answer
    app.add_middleware(
        EdgeMiddleware,
        region=settings.region,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
    )
    logging.getLogger("chartguard.ehr").setLevel(settings.log_level.upper())
    logging.getLogger("chartguard.ehr.access").setLevel(
        logging.INFO if settings.access_log else logging.WARNING
    )
    return app
