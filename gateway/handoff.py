"""What an agent, a helpdesk or the reminder timer does to a conversation: checked against
the transcript projection, then published as an ``AgentAction`` on the requests' topic."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from gateway.bridge import KafkaBridge
from gateway.transcripts import TranscriptStore
from runtime.errors import (
    ConversationClosedError,
    ConversationNotFoundError,
    DependencyUnavailableError,
)
from schemas import AgentAction, HandoffState

log = logging.getLogger(__name__)

CONVERSATION_CLOSED = "conversation_closed"


async def is_closed(store: TranscriptStore, conversation_id: str) -> bool:
    """Whether the projection has ``conversation_id`` closed. Without an answer from the
    store, ``False``: the worker refuses a closed conversation's questions too."""
    try:
        transcript = await store.read(conversation_id, limit=0)
    except (RedisError, OSError) as exc:
        log.warning("transcript store unavailable; not checking for a closed conversation: %r", exc)
        return False
    return transcript is not None and transcript.handoff_state is HandoffState.CLOSED


async def submit(store: TranscriptStore, bridge: KafkaBridge, action: AgentAction) -> None:
    """Publish ``action`` for a conversation the projection knows and has not closed.

    Raises ``ConversationNotFoundError``, ``ConversationClosedError``,
    ``DependencyUnavailableError`` (the store) or ``BrokerUnavailableError`` (Kafka)."""
    try:
        transcript = await store.read(action.conversation_id, limit=0)
    except (RedisError, OSError) as exc:
        raise DependencyUnavailableError(f"transcript store unavailable: {exc!r}") from exc
    if transcript is None:
        raise ConversationNotFoundError(action.conversation_id)
    if transcript.handoff_state is HandoffState.CLOSED:
        raise ConversationClosedError(action.conversation_id)
    await bridge.publish_action(action)
