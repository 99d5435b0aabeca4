"""New tickets per principal per hour, on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from helpdesk.quota import TicketQuota


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def quota(redis: Redis, per_hour: int) -> TicketQuota:
    return TicketQuota(redis, f"test:quota:{uuid.uuid4().hex}:", per_hour)


async def test_a_principal_opens_its_hourly_share_and_no_more(redis: Redis) -> None:
    limit = quota(redis, 3)
    claims = [await limit.claim("key:abc", f"e{n}") for n in range(5)]
    assert claims == [True, True, True, False, False]
    assert await limit.claim("key:other", "e9") is True


async def test_a_retried_escalation_is_counted_once(redis: Redis) -> None:
    limit = quota(redis, 2)
    assert [await limit.claim("key:abc", "e1") for _ in range(4)] == [True] * 4
    assert await limit.claim("key:abc", "e2") is True
    assert await limit.claim("key:abc", "e3") is False
    assert await limit.claim("key:abc", "e1") is True


async def test_escalations_without_a_principal_share_one_bucket(redis: Redis) -> None:
    limit = quota(redis, 1)
    assert await limit.claim(None, "e1") is True
    assert await limit.claim(None, "e2") is False


async def test_zero_means_no_limit(redis: Redis) -> None:
    limit = quota(redis, 0)
    assert all([await limit.claim("key:abc", f"e{n}") for n in range(50)])
