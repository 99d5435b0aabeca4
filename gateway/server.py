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
        # Our own middleware decides whose X-Forwarded-For to believe, and gateway.access
        # logs requests with their correlation ids.
        access_log=False,
        # The process's logging is set up once, by `techgear`: uvicorn's loggers keep no
        # handlers of their own and propagate to the root's, whose filters redact
        # credentials (techgear/logs.py) from uvicorn's WebSocket handshake lines too.
        log_config=None,
        ws_max_size=max(settings.max_body_bytes * 4, 65_536),
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
