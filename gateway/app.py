"""The gateway's Starlette application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route

from gateway import routes
from gateway.auth import ApiKeyBackend
from gateway.bridge import KafkaBridge
from gateway.errors import authentication_error, http_exception_handler
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings | None = None, bridge: KafkaBridge | None = None
) -> Starlette:
    settings = settings or GatewaySettings()
    bridge = bridge or KafkaBridge(
        settings.kafka_bootstrap_servers, replication_factor=settings.kafka_replication_factor
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        try:
            yield
        finally:
            await bridge.stop()

    app = Starlette(
        routes=[
            Route("/v1/chat", routes.chat, methods=["POST"]),
            Route("/health", routes.health, methods=["GET"]),
            Route("/ready", routes.ready, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                AuthenticationMiddleware,
                backend=ApiKeyBackend(key.get_secret_value() for key in settings.api_keys),
                on_error=authentication_error,
            )
        ],
        exception_handlers={HTTPException: http_exception_handler},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bridge = bridge
    app.state.readiness = routes.ReadinessChecks(bridge, cache_s=settings.readiness_cache_s)
    return app
