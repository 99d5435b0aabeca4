"""Answer cache in Redis.

The key covers everything that can change an answer: the normalised question, the
earlier turn it was resolved against (if any), the knowledge-base version, the responder
and its prompt version. An ingestion that changes the knowledge base bumps its version,
so every older entry becomes unreachable at once; ``CACHE_TTL_S`` bounds the rest.
Escalations are never cached: each must reach the helpdesk.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from typing import Protocol

import orjson
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from schemas import Category, Source
from streams.outcome import Outcome

log = logging.getLogger(__name__)

KEY_PREFIX = "techgear:answer:v1:"
_SPACES = re.compile(r"\s+")
_TRAILING_PUNCTUATION = re.compile(r"[\s?!.]+$")


def normalize_question(question: str) -> str:
    text = unicodedata.normalize("NFKC", question).casefold()
    return _TRAILING_PUNCTUATION.sub("", _SPACES.sub(" ", text).strip())


def cache_key(
    *, question: str, context: str | None, kb_version: int, responder: str, prompt_version: str
) -> str:
    material = "\x1f".join(
        [
            normalize_question(question),
            normalize_question(context or ""),
            str(kb_version),
            responder,
            prompt_version,
        ]
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()


class AnswerCache(Protocol):
    async def get(self, key: str) -> Outcome | None: ...

    async def put(self, key: str, outcome: Outcome) -> None: ...


class NoCache:
    async def get(self, key: str) -> Outcome | None:
        return None

    async def put(self, key: str, outcome: Outcome) -> None:
        return None


class RedisAnswerCache:
    """A cache failure is never a request failure: it is logged and counted as a miss."""

    def __init__(self, url: str, *, ttl_s: int, max_connections: int = 32) -> None:
        self._redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=1
            )
        )
        self._ttl_s = ttl_s

    async def get(self, key: str) -> Outcome | None:
        try:
            raw = await self._redis.get(key)
        except RedisError as exc:
            log.warning("answer cache unavailable: %s", exc)
            return None
        if not raw:
            return None
        return _decode(raw if isinstance(raw, bytes) else raw.encode())

    async def put(self, key: str, outcome: Outcome) -> None:
        if outcome.escalated:
            return
        try:
            await self._redis.set(key, _encode(outcome), ex=self._ttl_s)
        except RedisError as exc:
            log.warning("answer cache unavailable: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()


def _encode(outcome: Outcome) -> bytes:
    return orjson.dumps(
        {
            "answer": outcome.answer,
            "category": outcome.category.value,
            "confidence": outcome.confidence,
            "responder": outcome.responder,
            "sources": [source.model_dump() for source in outcome.sources],
        }
    )


def _decode(raw: bytes) -> Outcome | None:
    try:
        data = orjson.loads(raw)
        return Outcome(
            answer=data["answer"],
            category=Category(data["category"]),
            confidence=data["confidence"],
            responder=data["responder"],
            sources=[Source.model_validate(source) for source in data["sources"]],
            cached=True,
        )
    except (orjson.JSONDecodeError, KeyError, ValueError):
        log.warning("ignoring unreadable cache entry")
        return None
