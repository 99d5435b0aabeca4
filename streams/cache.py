"""The worker's side of the answer cache in Redis (its contract: ``schemas.answer_cache``).

An ingestion that changes the knowledge base bumps its version, so every older entry
becomes unreachable at once; ``CACHE_TTL_S`` bounds the rest. Escalations are never
cached: each must reach the helpdesk. The worker also publishes its current scope
(knowledge-base version, responder, prompt version) so gateways can find the entries of
first questions themselves.
"""

from __future__ import annotations

import logging
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.redis import ANSWER_SCOPE_KEY
from schemas.answer_cache import AnswerScope, CachedAnswer, decode_entry
from streams.outcome import Outcome

log = logging.getLogger(__name__)


class AnswerCache(Protocol):
    async def get(self, key: str) -> Outcome | None: ...

    async def put(self, key: str, outcome: Outcome) -> None: ...

    async def publish_scope(self, scope: AnswerScope) -> None:
        """Tell gateways which entries are current."""
        ...


class NoCache:
    async def get(self, key: str) -> Outcome | None:
        return None

    async def put(self, key: str, outcome: Outcome) -> None:
        return None

    async def publish_scope(self, scope: AnswerScope) -> None:
        return None


class RedisAnswerCache:
    """A cache failure is never a request failure: it is logged and counted as a miss."""

    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        """``redis`` (``runtime.redis.redis_client``) is this cache's to close."""
        self._redis = redis
        self._ttl_s = ttl_s

    async def get(self, key: str) -> Outcome | None:
        try:
            raw = await self._redis.get(key)
        except RedisError as exc:
            log.warning("answer cache unavailable: %s", exc)
            return None
        if not raw:
            return None
        entry = decode_entry(raw if isinstance(raw, bytes) else raw.encode())
        if entry is None:
            log.warning("ignoring unreadable cache entry")
            return None
        return Outcome(
            answer=entry.answer,
            category=entry.category,
            confidence=entry.confidence,
            responder=entry.responder,
            sources=list(entry.sources),
            cached=True,
            approved_answer_id=entry.approved_answer_id,
        )

    async def put(self, key: str, outcome: Outcome) -> None:
        if outcome.escalated:
            return
        entry = CachedAnswer(
            answer=outcome.answer,
            category=outcome.category,
            confidence=outcome.confidence,
            responder=outcome.responder,
            sources=outcome.sources,
            approved_answer_id=outcome.approved_answer_id,
        )
        try:
            await self._redis.set(key, entry.model_dump_json(), ex=self._ttl_s)
        except RedisError as exc:
            log.warning("answer cache unavailable: %s", exc)

    async def publish_scope(self, scope: AnswerScope) -> None:
        try:
            await self._redis.set(ANSWER_SCOPE_KEY, scope.model_dump_json())
        except RedisError as exc:
            log.warning("cannot publish the answer cache scope: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
