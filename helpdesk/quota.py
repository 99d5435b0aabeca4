"""New tickets per principal per hour, shared through Redis by every bridge of a target."""

from __future__ import annotations

import time

from redis.asyncio import Redis

WINDOW_S = 3600
UNATTRIBUTED = "unattributed"
"""The one bucket shared by escalations without a principal (from producers older than the
field): limited together rather than exempt, so a missing principal is no way around the
limit."""


class TicketQuota:
    """A sliding hour per principal: a sorted set of the event ids that opened tickets,
    scored by time. Claiming is idempotent per event id, so a retried escalation is counted
    once; a refused one is not counted."""

    def __init__(self, redis: Redis, key_prefix: str, per_hour: int) -> None:
        self._redis = redis
        self._key_prefix = key_prefix
        self.per_hour = per_hour
        """0: no limit."""

    async def claim(self, principal: str | None, event_id: str) -> bool:
        """Whether ``event_id`` may open a ticket for ``principal``."""
        if not self.per_hour:
            return True
        key = f"{self._key_prefix}{principal or UNATTRIBUTED}"
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - WINDOW_S)
            pipe.zadd(key, {event_id: now}, nx=True)
            pipe.zrank(key, event_id)
            pipe.expire(key, WINDOW_S)
            _, _, rank, _ = await pipe.execute()
        if rank < self.per_hour:
            return True
        await self._redis.zrem(key, event_id)
        return False
