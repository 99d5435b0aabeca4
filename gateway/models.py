"""The HTTP contract of ``POST /v1/chat``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas import (
    MAX_MESSAGE_CHARS,
    Author,
    Category,
    ChatAnswer,
    ChatRequest,
    Customer,
    EscalationReason,
    FeedbackRating,
    FeedbackReason,
    HandoffState,
    Source,
)
from schemas.answer_cache import CachedAnswer
from schemas.events import UtcDateTime


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    customer: Customer | None = None

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be blank")
        return value


class ChatResponse(BaseModel):
    request_id: str
    conversation_id: str
    answer: str
    category: Category
    confidence: float
    escalated: bool
    escalation_reason: EscalationReason | None
    sources: list[Source]
    cached: bool
    forwarded: bool = False
    """The message went to the person who owns the conversation; the bot did not answer."""
    handoff_state: HandoffState = HandoffState.BOT
    """Who owns the conversation now: ``bot``, ``awaiting_agent``, ``agent`` or ``closed``."""
    expected_response_by: UtcDateTime | None = None
    """When escalated or forwarded: by when a person is expected to reply."""
    conversation_seq: int | None = None
    """This reply's place in the conversation's transcript (``GET …/messages?after=``)."""
    language: str | None = None
    """The language the question was read in (BCP 47: ``en``, ``hi-Latn`` for Hinglish,
    ``hi``…); absent when not known (answers from the cache, or by a person)."""
    replayed: bool = False
    """The answer to an earlier call with the same ``X-Request-ID``, sent again: the
    question was not processed a second time."""
    approved_answer_id: str | None = None
    """Set when the answer is one an operator approved (``techgear answers``)."""
    conversation_token: str | None = None
    """Brings the caller back into this conversation (``X-Conversation-Token``); the only
    way back for a publishable key. Absent on WebSocket answers (``ready`` carries it)."""

    @classmethod
    def from_answer(cls, answer: ChatAnswer) -> ChatResponse:
        return cls(
            request_id=answer.request_id,
            conversation_id=answer.conversation_id,
            answer=answer.answer,
            category=answer.category,
            confidence=answer.confidence,
            escalated=answer.escalated,
            escalation_reason=answer.escalation_reason,
            sources=answer.sources,
            cached=answer.cached,
            forwarded=answer.forwarded,
            handoff_state=answer.handoff_state,
            expected_response_by=answer.expected_response_by,
            conversation_seq=answer.transcript_seq,
            language=answer.language,
            replayed=answer.replayed,
            approved_answer_id=answer.approved_answer_id,
        )

    @classmethod
    def from_cache(cls, request: ChatRequest, entry: CachedAnswer) -> ChatResponse:
        return cls(
            request_id=request.request_id,
            conversation_id=request.conversation_id,
            answer=entry.answer,
            category=entry.category,
            confidence=entry.confidence,
            escalated=False,
            escalation_reason=None,
            sources=entry.sources,
            cached=True,
            approved_answer_id=entry.approved_answer_id,
        )


CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


class AgentMessageBody(BaseModel):
    """``POST /v1/conversations/{conversation_id}/messages``: a person's reply."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    author: Author
    message_id: str | None = Field(default=None, min_length=1, max_length=128)
    """Idempotency key: the same id is delivered to the customer once."""

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        return value


class HandbackBody(BaseModel):
    """``POST /v1/conversations/{conversation_id}/handback`` (the body is optional)."""

    model_config = ConfigDict(extra="forbid")

    author: Author | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=128)
    """Idempotency key, as for messages."""


class ActionAccepted(BaseModel):
    conversation_id: str
    action_id: str
    status: Literal["accepted"] = "accepted"


class ConversationMessages(BaseModel):
    """``GET /v1/conversations/{conversation_id}/messages``: entries shaped as the
    WebSocket's ``agent_message``, ``handoff`` and ``transcript`` messages."""

    conversation_id: str
    handoff_state: HandoffState
    messages: list[dict[str, Any]]
    last_seq: int


class WebhookOutcome(BaseModel):
    status: Literal["accepted", "ignored"]
    reason: str | None = None
    action_id: str | None = None


class FeedbackBody(BaseModel):
    """``POST /v1/feedback``: a rating of one bot answer, named by its ``request_id``."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=CONVERSATION_ID_PATTERN)
    rating: FeedbackRating
    reason: FeedbackReason | None = None
    """Only with ``down``; optional."""

    @model_validator(mode="after")
    def _reason_only_when_down(self) -> FeedbackBody:
        if self.reason is not None and self.rating is not FeedbackRating.DOWN:
            raise ValueError("a reason is given only with rating 'down'")
        return self


class FeedbackReceived(BaseModel):
    """The answer's rating as stored: ``revision`` grows by one per change; the same
    rating sent again keeps it (and publishes nothing)."""

    request_id: str
    rating: FeedbackRating
    reason: FeedbackReason | None
    revision: int


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
    request_id: str | None = None
