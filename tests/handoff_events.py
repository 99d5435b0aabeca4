"""Conversation events as the worker publishes them, for tests of the gateway's side."""

from __future__ import annotations

from datetime import datetime

from schemas import (
    Author,
    ConversationMessage,
    HandoffChanged,
    HandoffState,
    TranscriptRole,
    new_id,
    utc_now,
)


def message(
    conversation_id: str,
    seq: int,
    text: str | None = None,
    *,
    role: TranscriptRole = TranscriptRole.AGENT,
    author: str | None = "Asha",
    message_id: str | None = None,
) -> ConversationMessage:
    return ConversationMessage(
        request_id=new_id(),
        conversation_id=conversation_id,
        correlation_id=new_id(),
        seq=seq,
        message_id=message_id or f"m-{seq}",
        role=role,
        text=text or f"message {seq}",
        author=Author(name=author) if author and role is TranscriptRole.AGENT else None,
    )


def handoff(
    conversation_id: str,
    seq: int,
    state: HandoffState,
    previous: HandoffState = HandoffState.BOT,
    *,
    expected_response_by: datetime | None = None,
    occurred_at: datetime | None = None,
    actor_name: str | None = None,
) -> HandoffChanged:
    return HandoffChanged(
        request_id=new_id(),
        conversation_id=conversation_id,
        correlation_id=new_id(),
        seq=seq,
        state=state,
        previous_state=previous,
        actor="bot" if state is HandoffState.AWAITING_AGENT else "agent",
        reason="human_requested" if state is HandoffState.AWAITING_AGENT else "handback",
        actor_name=actor_name,
        notice=f"now {state.value}",
        expected_response_by=expected_response_by,
        occurred_at=occurred_at or utc_now(),
    )
