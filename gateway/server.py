"""Entry point of ``techgear gateway``."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def run_gateway(settings: GatewaySettings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
