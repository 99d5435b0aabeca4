from __future__ import annotations

import asyncio

from streams.ordering import ConversationLocks


async def test_locks_of_finished_conversations_are_dropped() -> None:
    locks = ConversationLocks()
    order: list[str] = []

    async def hold(conversation: str, name: str) -> None:
        async with locks.hold(conversation):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("c", "one"), hold("c", "two"))
    assert order == ["one in", "one out", "two in", "two out"]
    assert len(locks) == 0
