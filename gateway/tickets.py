"""Which conversation a helpdesk ticket belongs to, as the helpdesk bridge recorded it
when it opened or found the ticket (``HELPDESK_TICKET_PREFIX`` + ``<helpdesk>:<ticket id>``).
A Freshdesk webhook names only its ticket; a Zendesk one names the conversation itself
unless the ticket lacks its external id."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.errors import DependencyUnavailableError
from runtime.redis import HELPDESK_TICKET_PREFIX


class TicketConversations:
    def __init__(self, redis: Redis | None) -> None:
        """``redis`` is shared; its owner closes it. Without it no ticket is known."""
        self._redis = redis

    async def conversation_of(self, helpdesk: str, ticket_id: str) -> str | None:
        """Raises ``DependencyUnavailableError`` when Redis cannot be asked."""
        if self._redis is None:
            return None
        try:
            value = await self._redis.get(f"{HELPDESK_TICKET_PREFIX}{helpdesk}:{ticket_id}")
        except (RedisError, OSError) as exc:
            raise DependencyUnavailableError(f"ticket records unavailable: {exc!r}") from exc
        return value.decode() if isinstance(value, bytes) else value
