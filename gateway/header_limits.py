"""Pure ASGI middleware: refuses requests with too many or too large header fields.

The HTTP parser already refuses a request whose head it had to buffer past
``HTTP_MAX_HEADER_BYTES``, but a head that arrives whole in one read is parsed whatever its
size, and no parser setting counts fields. This check makes both limits exact.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_response

# RFC 6455's "policy violation": the handshake is refused before the socket is accepted.
_WS_POLICY_VIOLATION = 1008


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_headers: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
        else:
            await error_response(431, problem)(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_headers:
            return f"more than {self.max_headers} header fields"
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
        size += sum(len(name) + len(value) for name, value in headers)
        if size > self.max_header_bytes:
            return f"request line and headers exceed {self.max_header_bytes} bytes"
        return None
