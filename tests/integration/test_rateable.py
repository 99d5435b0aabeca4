"""The Redis store of rateable answers does what the in-process one does (the same
behaviours as tests/unit/gateway/test_rateable.py), on the real Redis."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gateway.rateable import RateableAnswers, RedisRateableAnswers
from runtime.redis import RATEABLE_PREFIX
from schemas import FeedbackRating
from tests.rateable_store_behaviour import BEHAVIOURS, answer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_redis_store(
    redis: Redis, behaviour: Callable[[RateableAnswers], Awaitable[None]]
) -> None:
    await behaviour(RedisRateableAnswers(redis, ttl_s=3600))


async def test_an_answer_is_kept_under_its_hashed_request_id_for_the_conversation_ttl(
    redis: Redis,
) -> None:
    store = RedisRateableAnswers(redis, ttl_s=3600)
    request_id = uuid.uuid4().hex
    await store.record(answer("c-ttl", request_id))
    key = RATEABLE_PREFIX + hashlib.sha256(request_id.encode()).hexdigest()
    assert 0 < await redis.ttl(key) <= 3600


async def test_a_rating_never_recreates_an_answer_that_expired(redis: Redis) -> None:
    store = RedisRateableAnswers(redis, ttl_s=3600)
    request_id = uuid.uuid4().hex
    await store.record(answer("c-gone", request_id))
    reserved = await store.reserve(request_id, FeedbackRating.UP, None)
    assert reserved is not None
    key = RATEABLE_PREFIX + hashlib.sha256(request_id.encode()).hexdigest()
    await redis.delete(key)  # as its TTL would
    assert await store.settle(request_id, FeedbackRating.UP, None, reserved.revision) is None
    assert await redis.exists(key) == 0
