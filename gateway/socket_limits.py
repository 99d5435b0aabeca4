"""Limits on WebSockets: how often a principal opens them, how many it holds open, and
how long one lives (no longer than the credential it was opened with).

Open sockets are counted per gateway process, so behind N gateways a principal may hold
N × ``WS_MAX_CONNECTIONS_PER_PRINCIPAL``; the count lives and dies with its process, so a
crash leaves nothing to clean up.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from gateway.metrics import RATE_LIMITED, WEBSOCKET_REFUSED
from gateway.ratelimit import RateLimiter

CLOSE_TOO_MANY = 4429
TOKEN_EXPIRED = "token_expired"


@dataclass(frozen=True, slots=True)
class Refusal:
    close_code: int
    code: str
    message: str
    retry_after: int | None = None


class OpenSockets:
    def __init__(self, per_principal: int) -> None:
        self.per_principal = per_principal
        self._open: Counter[str] = Counter()

    def claim(self, identity: str) -> bool:
        if self._open[identity] >= self.per_principal:
            return False
        self._open[identity] += 1
        return True

    def release(self, identity: str) -> None:
        self._open[identity] -= 1
        if self._open[identity] <= 0:
            del self._open[identity]


async def admit(sockets: OpenSockets, limiter: RateLimiter, identity: str) -> Refusal | None:
    """Charges the opening to the caller's rate limit, then claims one of its sockets;
    ``None`` when admitted (the caller then owes ``sockets.release``)."""
    decision = await limiter.take(identity)
    if not decision.allowed:
        RATE_LIMITED.labels("websocket").inc()
        WEBSOCKET_REFUSED.labels("rate_limited").inc()
        return Refusal(
            CLOSE_TOO_MANY,
            "rate_limited",
            f"rate limit exceeded; retry in {decision.retry_after_s}s",
            retry_after=decision.retry_after_s,
        )
    if not sockets.claim(identity):
        WEBSOCKET_REFUSED.labels("too_many_connections").inc()
        return Refusal(
            CLOSE_TOO_MANY,
            "too_many_connections",
            f"at most {sockets.per_principal} open WebSockets per credential; close one first",
        )
    return None


def seconds_left(expires_at: int | None) -> float | None:
    """Until the credential expires, for ``asyncio.timeout``; ``None`` when it never does."""
    return None if expires_at is None else max(0.0, expires_at - time.time())
