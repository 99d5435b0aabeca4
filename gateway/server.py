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
        # Our own middleware decides whose X-Forwarded-For to believe; the access log is
        # off because WebSocket URLs may carry a token (gateway/auth.py).
        access_log=False,
        log_config=None,  # the process's logging is set up once, by `techgear`
        ws_max_size=max(settings.max_body_bytes * 4, 65_536),
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
