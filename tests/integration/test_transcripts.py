"""The Redis transcript store does what the in-process one does (the same behaviours as
tests/unit/gateway/test_transcripts.py), on the real Redis."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gateway.transcripts import RedisTranscripts, TranscriptStore
from tests.handoff_events import message
from tests.transcript_store_behaviour import BEHAVIOURS

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_redis_store(
    redis: Redis, behaviour: Callable[[TranscriptStore], Awaitable[None]]
) -> None:
    await behaviour(RedisTranscripts(redis, ttl_s=3600))


async def test_redis_store_forgets_a_conversation_its_ttl_after_the_last_event(
    redis: Redis,
) -> None:
    store = RedisTranscripts(redis, ttl_s=3600)
    conversation = f"ttl-{uuid.uuid4().hex}"
    await store.append(message(conversation, 1))
    base = "techgear:transcript:" + hashlib.sha256(conversation.encode()).hexdigest()
    ttls = [await redis.ttl(f"{base}:{part}") for part in ("entries", "state")]
    assert all(0 < ttl <= 3600 for ttl in ttls)
