"""Event contracts shared by the gateway and the stream workers. Depends on nothing of ours."""

from schemas import correlation
from schemas.codec import EventDecodeError, decode, encode
from schemas.events import (
    MAX_MESSAGE_CHARS,
    SCHEMA_VERSION,
    Category,
    ChatAnswer,
    ChatDelta,
    ChatRequest,
    Customer,
    DeadLetter,
    DeadLetterReplay,
    Escalation,
    EscalationKind,
    EscalationReason,
    Priority,
    Source,
    TicketType,
    TranscriptTurn,
    new_id,
    utc_now,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "SCHEMA_VERSION",
    "correlation",
    "Category",
    "ChatAnswer",
    "ChatDelta",
    "ChatRequest",
    "Customer",
    "DeadLetter",
    "DeadLetterReplay",
    "Escalation",
    "EscalationKind",
    "EscalationReason",
    "Priority",
    "TicketType",
    "TranscriptTurn",
    "EventDecodeError",
    "Source",
    "decode",
    "encode",
    "new_id",
    "utc_now",
]
