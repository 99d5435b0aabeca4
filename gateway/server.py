"""Entry point of ``techgear gateway``."""

from __future__ import annotations

import asyncio

import uvicorn

from gateway.app import create_app
from gateway.header_limits import HeaderLimitMiddleware
from gateway.http_protocol import deadline_protocol
from gateway.settings import GatewaySettings
from runtime.kafka import verify_connection


def run_gateway(settings: GatewaySettings) -> None:
    asyncio.run(verify_connection(settings.kafka))
    app = HeaderLimitMiddleware(
        create_app(settings),
        max_headers=settings.http_max_headers,
        max_header_bytes=settings.http_max_header_bytes,
    )
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level.lower(),
        # h11, not httptools: only h11 bounds what a connection may buffer before its
        # headers end (`h11_max_incomplete_event_size`); our subclass adds the deadlines.
        http=deadline_protocol(
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
        ),
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        timeout_keep_alive=settings.http_keepalive_timeout_s,
        proxy_headers=False,
        # Our own middleware decides whose X-Forwarded-For to believe, and gateway.access
        # logs requests with their correlation ids.
        access_log=False,
        # The process's logging is set up once, by `techgear`: uvicorn's loggers keep no
        # handlers of their own and propagate to the root's, whose filters redact
        # credentials (runtime/logs.py) from uvicorn's WebSocket handshake lines too.
        log_config=None,
        ws_max_size=max(settings.max_body_bytes * 4, 65_536),
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
