"""The gateway's Redis client for rate limits, failed-authentication budgets and
conversation ownership: one pool, with timeouts that make a hung Redis an error (each user
then falls back or refuses, as it must), never a hung request."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

_MAX_CONNECTIONS = 64
_POOL_WAIT_S = 1.0


def gateway_redis(url: str | None, *, connect_timeout_s: float, timeout_s: float) -> Redis | None:
    """The client, or ``None`` without ``url``; its owner (the app's lifespan) closes it."""
    if not url:
        return None
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=_MAX_CONNECTIONS,
        timeout=_POOL_WAIT_S,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=timeout_s,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections
