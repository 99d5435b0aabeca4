"""What ``support.conversation-events`` carries, as the gateway shows it: the two events
decoded from one topic, and each turned into the entry a client sees (the WebSocket
message and the ``GET …/messages`` item are the same shape, docs/websocket.md)."""

from __future__ import annotations

from typing import Any

from runtime.codec import ConversationEvent
from runtime.codec import decode_conversation_event as decode_event
from schemas import HandoffChanged, TranscriptRole

__all__ = ["ConversationEvent", "Entry", "decode_event", "entry_of"]

Entry = dict[str, Any]
"""A transcript entry as sent to clients; ``conversation_seq`` orders a conversation's."""


def entry_of(event: ConversationEvent) -> Entry:
    sent_at = event.occurred_at.isoformat()
    if isinstance(event, HandoffChanged):
        return {
            "type": "handoff",
            "conversation_seq": event.seq,
            "state": event.state.value,
            "previous_state": event.previous_state.value,
            "reason": event.reason,
            "notice": event.notice,
            "author": {"name": event.actor_name} if event.actor_name else None,
            "expected_response_by": (
                event.expected_response_by.isoformat() if event.expected_response_by else None
            ),
            "sent_at": sent_at,
        }
    if event.role is TranscriptRole.AGENT:
        return {
            "type": "agent_message",
            "conversation_seq": event.seq,
            "message_id": event.message_id,
            "text": event.text,
            "author": {"name": event.author.name if event.author else "TechGear support"},
            "sent_at": sent_at,
        }
    return {
        "type": "transcript",
        "conversation_seq": event.seq,
        "role": event.role.value,
        "text": event.text,
        "message_id": event.message_id,
        "forwarded": event.forwarded,
        "sent_at": sent_at,
    }
