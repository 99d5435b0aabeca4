"""The conversation ownership registry, in process and in a real Redis."""

from __future__ import annotations

import uuid

import pytest

from gateway.ownership import ConversationRegistry, OwnershipUnavailableError


async def test_first_principal_owns_a_conversation_in_process() -> None:
    registry = ConversationRegistry(redis_url=None, ttl_s=60)
    assert await registry.claim("c-1", "key:a")
    assert await registry.claim("c-1", "key:a")
    assert not await registry.claim("c-1", "key:b")
    assert await registry.claim("c-2", "key:b")


@pytest.mark.integration
async def test_first_principal_owns_a_conversation_in_redis(redis_url: str) -> None:
    registry = ConversationRegistry(redis_url=redis_url, ttl_s=60)
    other_instance = ConversationRegistry(redis_url=redis_url, ttl_s=60)
    conversation = f"c-{uuid.uuid4().hex}"
    try:
        assert await registry.claim(conversation, "key:a")
        assert not await other_instance.claim(conversation, "key:b")
        assert await other_instance.claim(conversation, "key:a")
    finally:
        await registry.close()
        await other_instance.close()


async def test_unreachable_redis_refuses_rather_than_letting_anyone_in() -> None:
    registry = ConversationRegistry(redis_url="redis://127.0.0.1:1/0", ttl_s=60)
    try:
        with pytest.raises(OwnershipUnavailableError):
            await registry.claim("c-1", "key:a")
    finally:
        await registry.close()
