"""Pure ASGI middleware: rate limits on every HTTP request but the probes."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.client_ip import Network, client_address
from gateway.errors import error_response
from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import RateLimiter

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics", "/"})


def rate_limit_identity(scope: Scope, trusted: list[Network]) -> str:
    """The authenticated principal, else the client's address. A publishable key is shared
    by every visitor of the page that embeds it, so each visitor's address gets its own
    buckets (and WebSocket cap) under that key, rather than the whole site sharing one."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return f"ip:{client_address(scope, trusted)}"
    if user.publishable:
        return f"{user.identity}@ip:{client_address(scope, trusted)}"
    return str(user.identity)


def _exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith("/static/")


class RateLimitMiddleware:
    """Must sit inside ``AuthenticationMiddleware``: it buckets by the caller it set."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, trusted_proxies: list[Network]) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.take(rate_limit_identity(scope, self.trusted))
        if not decision.allowed:
            RATE_LIMITED.labels("http").inc()
            refusal = error_response(
                429,
                f"rate limit exceeded; retry in {decision.retry_after_s}s",
                headers=decision.headers(),
            )
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(decision.headers())
            await send(message)

        await self.app(scope, receive, send_with_headers)
