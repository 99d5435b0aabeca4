"""The conversation ownership registry, in process and in a real Redis."""

from __future__ import annotations

import uuid

import pytest

from gateway.ownership import ConversationRegistry
from runtime.redis import RedisSettings, redis_client


async def test_first_principal_owns_a_conversation_in_process() -> None:
    registry = ConversationRegistry(redis=None, ttl_s=60)
    assert await registry.claim("c-1", "key:a")
    assert await registry.claim("c-1", "key:a")
    assert not await registry.claim("c-1", "key:b")
    assert await registry.claim("c-2", "key:b")


@pytest.mark.integration
async def test_first_principal_owns_a_conversation_in_redis(redis_url: str) -> None:
    clients = [redis_client(RedisSettings(redis_url=redis_url), timeout_s=1) for _ in range(2)]
    registry, other_instance = (ConversationRegistry(redis=c, ttl_s=60) for c in clients)
    conversation = f"c-{uuid.uuid4().hex}"
    try:
        assert await registry.claim(conversation, "key:a")
        assert not await other_instance.claim(conversation, "key:b")
        assert await other_instance.claim(conversation, "key:a")
    finally:
        for client in clients:
            await client.aclose()


async def test_unreachable_redis_falls_back_to_claims_in_process() -> None:
    redis = redis_client(RedisSettings(redis_url="redis://127.0.0.1:1/0"), timeout_s=0.2)
    registry = ConversationRegistry(redis=redis, ttl_s=60)
    try:
        assert await registry.claim("c-1", "key:a")
        assert not await registry.claim("c-1", "key:b")
        assert await registry.claim("c-1", "key:a")
    finally:
        await redis.aclose()


async def test_ownership_is_checked_without_claiming_in_process() -> None:
    registry = ConversationRegistry(redis=None, ttl_s=60)
    assert not await registry.owned_by("c-1", "key:a")
    assert await registry.claim("c-1", "key:b")  # the check claimed nothing
    assert await registry.owned_by("c-1", "key:b")
    assert not await registry.owned_by("c-1", "key:a")


@pytest.mark.integration
async def test_ownership_is_checked_without_claiming_in_redis(redis_url: str) -> None:
    client = redis_client(RedisSettings(redis_url=redis_url), timeout_s=1)
    registry = ConversationRegistry(redis=client, ttl_s=60)
    conversation = f"c-{uuid.uuid4().hex}"
    try:
        assert not await registry.owned_by(conversation, "key:a")
        assert await registry.claim(conversation, "key:b")
        assert await registry.owned_by(conversation, "key:b")
        assert not await registry.owned_by(conversation, "key:a")
    finally:
        await client.aclose()
