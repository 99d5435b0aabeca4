"""Per-conversation ordering for handlers that run concurrently."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ConversationLocks:
    """One lock per conversation with a question in progress.

    Questions of one conversation are handled one after another, in the order their
    handlers asked for the lock (asyncio locks are fair), while other conversations go on
    in parallel. Locks are dropped when nobody holds or awaits them.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(conversation_id, (asyncio.Lock(), 0))
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[conversation_id]
            if users == 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
