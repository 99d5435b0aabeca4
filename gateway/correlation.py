"""Pure ASGI middleware: a correlation id for every request, and one access-log line.

The id is the caller's ``X-Request-ID`` when it is a safe token, else a new one; it is
bound for the request's logs, carried into Kafka by the routes, and echoed in the
response's ``X-Request-ID``. The access log records the path without its query string,
which may carry a WebSocket credential.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime import correlation
from schemas import new_id

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("gateway.access")


def supplied_request_id(headers: Headers) -> str | None:
    """The caller's ``X-Request-ID`` when it is a safe token."""
    supplied = headers.get(REQUEST_ID_HEADER)
    return supplied if supplied and _SAFE_ID.match(supplied) else None


def correlation_id_of(scope: Scope) -> str:
    return supplied_request_id(Headers(scope=scope)) or new_id()


class CorrelationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_of(scope)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).setdefault(REQUEST_ID_HEADER, correlation_id)
            await send(message)

        with correlation.bound(correlation_id=correlation_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                access_log.info(
                    "%s %s %s",
                    scope.get("method", "WS"),
                    scope["path"],
                    status or "-",
                    extra={
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
