"""Answers to first questions straight from the workers' cache in Redis.

A question that opens a conversation has no earlier turn to be read against, so its cache
key depends only on the question and the scope the workers publish (knowledge-base
version, responder, prompt version). A hit is answered here, without the round trip
through Kafka and a worker; the request is still published so the worker records the
turn and the answer event. Any Redis failure is a miss.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.redis import ANSWER_SCOPE_KEY, answer_key
from schemas.answer_cache import AnswerScope, CachedAnswer, decode_entry, decode_scope

log = logging.getLogger(__name__)

_SCOPE_REFRESH_S = 1.0
_PAUSE_AFTER_FAILURE_S = 5.0
LOOKUP_TIMEOUT_S = 0.25
"""A lookup on the request's path gives up this soon: a miss costs less than a wait."""


class AnswerCacheReader:
    def __init__(self, redis: Redis | None) -> None:
        """``redis`` (built with ``timeout_s=LOOKUP_TIMEOUT_S``) is this reader's to close."""
        self._redis = redis
        self._scope: AnswerScope | None = None
        self._scope_read_at = -_SCOPE_REFRESH_S
        self._paused_until = 0.0

    async def first_answer(self, question: str) -> CachedAnswer | None:
        """The cached answer to ``question`` asked as a conversation's first."""
        if self._redis is None or time.monotonic() < self._paused_until:
            return None
        try:
            scope = await self._current_scope(self._redis)
            if scope is None:
                return None
            raw = await self._redis.get(answer_key(question=question, context=None, scope=scope))
        except (RedisError, OSError) as exc:
            # Redis is down: don't make every request wait for it to say so again.
            self._paused_until = time.monotonic() + _PAUSE_AFTER_FAILURE_S
            log.warning(
                "answer cache unavailable, not looking for %gs: %s", _PAUSE_AFTER_FAILURE_S, exc
            )
            return None
        return decode_entry(raw) if isinstance(raw, bytes) else None

    async def _current_scope(self, redis: Redis) -> AnswerScope | None:
        now = time.monotonic()
        if now - self._scope_read_at >= _SCOPE_REFRESH_S:
            raw = await redis.get(ANSWER_SCOPE_KEY)
            self._scope = decode_scope(raw) if isinstance(raw, bytes) else None
            self._scope_read_at = now
        return self._scope

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
