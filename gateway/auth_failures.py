"""A budget of failed authentications per client address, checked before authentication.

A refused API key or token, or a wrong password at ``POST /v1/auth/token``, costs the
client address one token of a bucket that refills ``AUTH_FAILURES_PER_MINUTE`` a minute
(the rate limiter's buckets, under their own Redis prefix, so gateways share them). An
address with no token left gets 429 ``too_many_auth_failures`` (a WebSocket: that error
message, then close code 4429) before its credential is looked at. A missing credential
costs nothing (it guesses nothing), and neither does a valid one: one address's failures
never slow another's callers.

Failures are charged as their refusal goes out, so a client that waits for each answer
gets exactly its budget of 401s; concurrent requests checked before the first charge
may overshoot it by their number. The token endpoint reserves its token before bcrypt
runs instead, so no flood, however concurrent, runs more checks than the budget.
"""

from __future__ import annotations

from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.client_ip import Network, client_address
from gateway.errors import authentication_error, error_response
from gateway.metrics import AUTH_FAILURE_REFUSALS, AUTH_FAILURES
from gateway.ratelimit import Decision, RateLimiter
from gateway.socket_limits import CLOSE_TOO_MANY
from gateway.websocket import accept, refuse
from runtime.redis import AUTH_FAILURES_PREFIX

TOO_MANY_AUTH_FAILURES = "too_many_auth_failures"
_FAILED = "auth_failed"
"""Set in the request's state by ``credentials_refused``."""
# Probes stay independent of Redis; they take no credentials anyway.
_UNCHECKED_PATHS = frozenset({"/health", "/ready"})
_REFUSALS = frozenset({"http.response.start", "websocket.close", "websocket.http.response.start"})


class AuthFailures:
    def __init__(self, *, per_minute: int, redis: Redis | None) -> None:
        # The hour bucket refills at the minute bucket's pace, so it never binds first.
        self._buckets = RateLimiter(
            per_minute=per_minute,
            per_hour=per_minute * 60,
            redis=redis,
            key_prefix=AUTH_FAILURES_PREFIX,
        )

    async def check(self, address: str) -> Decision:
        """Whether ``address`` has failures left, charging nothing."""
        return await self._buckets.take(address, cost=0)

    async def charge(self, address: str) -> Decision:
        """Charges one failure; refused (and not charged) when none is left."""
        return await self._buckets.take(address)

    async def refund(self, address: str) -> None:
        """Gives back a failure charged ahead of a check that then succeeded."""
        await self._buckets.take(address, cost=-1)


def too_many_failures(decision: Decision) -> JSONResponse:
    return error_response(
        429,
        f"too many failed authentications from this address; retry in {decision.retry_after_s}s",
        code=TOO_MANY_AUTH_FAILURES,
        headers={"Retry-After": str(decision.retry_after_s)},
    )


def credentials_refused(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    """``on_error`` of ``AuthenticationMiddleware``: the 401, marked as a failure to charge."""
    setattr(conn.state, _FAILED, True)
    return authentication_error(conn, exc)


class AuthFailureMiddleware:
    """Must sit outside ``AuthenticationMiddleware``, whose refusals it charges."""

    def __init__(
        self, app: ASGIApp, failures: AuthFailures, trusted_proxies: list[Network]
    ) -> None:
        self.app = app
        self.failures = failures
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"] in _UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self.trusted)
        decision = await self.failures.check(address)
        if not decision.allowed:
            AUTH_FAILURE_REFUSALS.labels(scope["type"]).inc()
            await _refuse(scope, receive, send, decision)
            return
        state = HTTPConnection(scope).state
        charged = False

        async def charge_then_send(message: Message) -> None:
            nonlocal charged
            if not charged and message["type"] in _REFUSALS and getattr(state, _FAILED, False):
                charged = True
                AUTH_FAILURES.labels(scope["type"]).inc()
                await self.failures.charge(address)
            await send(message)

        await self.app(scope, receive, charge_then_send)


async def _refuse(scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
    if scope["type"] == "http":
        await too_many_failures(decision)(scope, receive, send)
        return
    # As every refusal on /v1/ws (docs/websocket.md): an error message, then a close code.
    websocket = WebSocket(scope, receive, send)
    await accept(websocket)
    await refuse(
        websocket,
        CLOSE_TOO_MANY,
        TOO_MANY_AUTH_FAILURES,
        "too many failed authentications from this address",
        retry_after=decision.retry_after_s,
    )
