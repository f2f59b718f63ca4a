"""The FastAPI application: ``create_app()`` wires the lifespan, routers and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from renum import logsafe
from renum.api import docs, dsl_routes, executions, health, me, teams
from renum.api import keys as keys_routes
from renum.api import metrics as metrics_routes
from renum.api import usage as usage_routes
from renum.api import webhooks as webhook_routes
from renum.api import ws as ws_routes
from renum.api.bodies import BodyLimits
from renum.errors import install_error_handlers
from renum.resources import open_resources
from renum.settings import Settings
from renum.suna import build_suna_client, log_suna
from renum.suna_accounts import SunaAccounts

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, run_migrations: bool = False) -> FastAPI:
    """Build the API; resources open in the lifespan, once per process."""
    settings = settings or Settings()
    settings.check_secrets()
    logsafe.install()  # uvicorn's WebSocket lines carry ?token=

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings, run_migrations=run_migrations) as resources,
            build_suna_client(settings) as suna,
        ):
            app.state.resources = resources
            app.state.suna_accounts = SunaAccounts(
                suna, service_account_id=settings.suna_account_id, key_ring=settings.key_ring
            )
            await log_suna(suna, settings)
            app.state.sse_heartbeat_s = settings.sse_heartbeat_s
            yield

    app = FastAPI(
        title="Renum",
        version="0.1.0",
        summary="The team brain for Suna agents",
        lifespan=lifespan,
        docs_url=None,  # /docs is served offline by renum.api.docs (Swagger UI needs a CDN)
        redoc_url=None,
        openapi_tags=docs.TAGS,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimits)  # bounded and strict bodies, before routes and auth
    app.include_router(health.router)
    app.include_router(me.router)
    app.include_router(teams.router)
    app.include_router(executions.router)
    app.include_router(dsl_routes.router)
    app.include_router(keys_routes.router)
    app.include_router(usage_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(ws_routes.router)
    app.include_router(docs.router)
    docs.install_examples(app)
    return app
