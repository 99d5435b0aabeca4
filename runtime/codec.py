"""The one serializer of events: orjson bytes on the wire, pydantic models in code."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from runtime.errors import EventDecodeError
from schemas import ConversationMessage, HandoffChanged

EventT = TypeVar("EventT", bound=BaseModel)
ConversationEvent = ConversationMessage | HandoffChanged
"""What ``support.conversation-events`` carries."""

_CONVERSATION_EVENT_TYPES: dict[str, type[ConversationEvent]] = {
    "conversation.message": ConversationMessage,
    "conversation.handoff": HandoffChanged,
}


def encode(event: BaseModel) -> bytes:
    return orjson.dumps(event.model_dump(mode="json"))


def decode(data: bytes, event_type: type[EventT]) -> EventT:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise EventDecodeError(f"expected a JSON object, got {type(payload).__name__}")
    try:
        return event_type.model_validate(payload)
    except ValidationError as exc:
        raise EventDecodeError(
            f"invalid {event_type.__name__}: {exc.error_count()} error(s): "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from exc


def decode_conversation_event(value: bytes) -> ConversationEvent:
    """The event of ``support.conversation-events`` in ``value``; raises
    ``EventDecodeError`` for anything else."""
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"not JSON: {exc}") from exc
    event_type = payload.get("event_type") if isinstance(payload, dict) else None
    model = _CONVERSATION_EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise EventDecodeError(f"not a conversation event: event_type {event_type!r}")
    return decode(value, model)
