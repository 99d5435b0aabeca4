"""The conversation ownership registry, in process and in a real Redis."""

from __future__ import annotations

import uuid

import pytest

from gateway.ownership import ConversationRegistry
from gateway.redis_client import gateway_redis


async def test_first_principal_owns_a_conversation_in_process() -> None:
    registry = ConversationRegistry(redis=None, ttl_s=60)
    assert await registry.claim("c-1", "key:a")
    assert await registry.claim("c-1", "key:a")
    assert not await registry.claim("c-1", "key:b")
    assert await registry.claim("c-2", "key:b")


@pytest.mark.integration
async def test_first_principal_owns_a_conversation_in_redis(redis_url: str) -> None:
    clients = [gateway_redis(redis_url, connect_timeout_s=1, timeout_s=1) for _ in range(2)]
    registry, other_instance = (ConversationRegistry(redis=c, ttl_s=60) for c in clients)
    conversation = f"c-{uuid.uuid4().hex}"
    try:
        assert await registry.claim(conversation, "key:a")
        assert not await other_instance.claim(conversation, "key:b")
        assert await other_instance.claim(conversation, "key:a")
    finally:
        for client in clients:
            assert client is not None
            await client.aclose()


async def test_unreachable_redis_falls_back_to_claims_in_process() -> None:
    redis = gateway_redis("redis://127.0.0.1:1/0", connect_timeout_s=0.2, timeout_s=0.2)
    assert redis is not None
    registry = ConversationRegistry(redis=redis, ttl_s=60)
    try:
        assert await registry.claim("c-1", "key:a")
        assert not await registry.claim("c-1", "key:b")
        assert await registry.claim("c-1", "key:a")
    finally:
        await redis.aclose()
