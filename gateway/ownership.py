"""Which principal owns each conversation: no credential reads or writes another's.

The first principal to use a conversation id claims it; the claim lasts
``CONVERSATION_TTL_S`` from the conversation's last use. In Redis the claim is one atomic
script (``SET NX EX``, else compare and refresh), so it holds across every gateway
instance; the key is the SHA-256 of the id, so Redis holds no customer-chosen text.
Without ``REDIS_URL`` (one development process), and while Redis cannot be asked, a bounded
in-process TTL cache holds the claims, as the rate limiter falls back to in-process buckets:
the gateway keeps serving. That is safe because the worker checks ownership again before it
reads or writes a conversation (``streams/memory.py``): a request a gateway could not check
against the others' claims is refused there, with the same 404, if another principal owns
the conversation.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.redis import CLAIM_SCRIPT, CONVERSATION_OWNER_PREFIX

log = logging.getLogger(__name__)

_LOCAL_CLAIMS = 100_000
"""In-process claims kept at most; the least recently used go first."""


class ConversationRegistry:
    def __init__(self, *, redis: Redis | None, ttl_s: int) -> None:
        """``redis`` is shared; its owner closes it."""
        self._ttl_s = ttl_s
        self._redis = redis
        self._script = self._redis.register_script(CLAIM_SCRIPT) if self._redis else None
        # The TTL restarts on every write, as a refreshed Redis claim's does.
        self._local: TTLCache[str, str] = TTLCache(_LOCAL_CLAIMS, ttl_s, timer=time.monotonic)
        self._lock = threading.Lock()
        self._degraded = False

    async def claim(self, conversation_id: str, principal: str) -> bool:
        """Whether ``principal`` owns ``conversation_id`` (claiming it when unowned), and
        if so, keep the claim for another TTL."""
        key = _key(conversation_id)
        if self._script is None:
            return self._claim_locally(key, principal)
        try:
            owned = await self._script(keys=[key], args=[principal, self._ttl_s * 1000])
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning("Redis unavailable, conversation claims in process: %r", exc)
            self._degraded = True
            return self._claim_locally(key, principal)
        self._degraded = False
        return bool(owned)

    async def owned_by(self, conversation_id: str, principal: str) -> bool:
        """Whether ``principal`` holds the claim on ``conversation_id``, claiming nothing
        and refreshing nothing: an unowned conversation is nobody's."""
        key = _key(conversation_id)
        if self._redis is None:
            return self._owned_locally(key, principal)
        try:
            owner = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning("Redis unavailable, conversation claims in process: %r", exc)
            self._degraded = True
            return self._owned_locally(key, principal)
        self._degraded = False
        return owner == principal.encode()

    def _owned_locally(self, key: str, principal: str) -> bool:
        with self._lock:
            return self._local.get(key) == principal

    def _claim_locally(self, key: str, principal: str) -> bool:
        with self._lock:
            owner = self._local.get(key, principal)
            if owner == principal:
                self._local[key] = principal
            return owner == principal


def _key(conversation_id: str) -> str:
    return CONVERSATION_OWNER_PREFIX + hashlib.sha256(conversation_id.encode()).hexdigest()
